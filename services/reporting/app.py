"""reporting wiring: fold the dossiers, settlements and outgoing documents into facts, and serve the
indicators computed from them by QĐ 766's formulas (services/reporting/domain.py) and the province's
catalogue.

- `GET /api/v1/indicators?by=procedure,agency,month&procedure=…&agency=…&month=YYYY-MM`: the indicators in
  total and per group (`by=` with nothing after it: the totals only), with their definitions;
- `GET /`: the dashboard, a page that draws the same JSON as charts and refreshes itself.

The facts live in changelog-backed tables keyed like the topics they come from; the indicators are computed
from them on each request, so they are always those of the events read so far. The tables are partitioned like
the topics and reporting runs as several workers, each holding some partitions: the worker that receives a
request asks every worker (itself included) for the figures of the partitions it holds
(`/api/v1/indicators/part`: sums and counts, no dossier), adds them up and computes the ratios; when the
parts do not cover every partition exactly once (a worker died, a rebalance), it answers 503 rather than a
partial report (docs/adr/0016).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from egov.contracts.topics import EventTypes, Topics
from egov.paths import REPO_ROOT
from egov.platform.province import get_province
from egov.regulations.workdays import WorkingCalendar
from egov.runtime.auth import PUBLIC
from egov.runtime.engine import Engine
from egov.runtime.http import HttpError, HttpRequest, HttpResponse, Operation, Parameter, Reply, refusal
from egov.runtime.routing import moving, part_body
from egov.runtime.service import Handler, IncomingEvent, RejectedEvent, Service
from egov.runtime.settings import Settings
from services import SERVICES
from services.reporting.domain import (
    QUERY_PARAMETERS,
    IndicatorsPart,
    IndicatorsReport,
    InvalidQuery,
    Query,
    Tallies,
    catalogue,
    document_facts,
    dossier_facts,
    parse_query,
    render,
    settlement_facts,
    tally,
)

DASHBOARD = REPO_ROOT / "services" / "reporting" / "dashboard.html"
#: Where each worker answers for the partitions it holds.
PART_PATH = "/api/v1/indicators/part"


def build(settings: Settings, *, engine: Engine | None = None) -> Service:
    service = Service("reporting", default_port=SERVICES["reporting"].port, settings=settings, engine=engine)
    province = get_province(settings.province)
    zone = ZoneInfo(province.timezone)
    agency_names = {a.code: a.name for a in province.agencies}
    #: What QĐ 766's formulas need of each procedure: its unit, its fee, whether its result is on paper.
    procedures = catalogue(province)
    calendar = WorkingCalendar()
    dashboard = DASHBOARD.read_text(encoding="utf-8")

    #: Dossier code → procedure, responsible agency, channel, receipt, result, final status.
    dossiers = service.table("dossier-facts", help="Dossier code → what the indicators count of it.")
    #: Dossier code → payment reference → paid online or not, and when.
    settlements = service.table("settlement-facts", help="Dossier code → fees settled, online or not.")
    #: Document id → issuing agency, registration time, issued with a signature or not.
    documents = service.table("document-facts", help="Document id → issuing agency, registration, signature.")

    def counter(table: Any, fold: Callable[[Any, str, dict[str, Any]], dict[str, Any]]) -> Handler:
        """A handler that folds each event into the facts `table` keeps under the event's key."""

        async def count(event: IncomingEvent) -> None:
            key = event.key or ""
            try:
                facts = fold(table.get(key), event.type, event.record)
            except (KeyError, ValueError) as exc:
                raise RejectedEvent(f"cannot count {event.type}: {exc}") from exc
            if facts != table.get(key):
                table[key] = facts
                service.log.info(
                    "reporting.counted", event_id=event.envelope.id, event_type=event.type, key=key
                )

        return count

    count_dossier = counter(dossiers, dossier_facts)
    count_document = counter(documents, document_facts)
    service.consume(
        Topics.DOSSIERS,
        {
            EventTypes.DOSSIER_RECEIVED: count_dossier,
            EventTypes.DOSSIER_STATUS_CHANGED: count_dossier,
            EventTypes.RESULT_RETURNED: count_dossier,
        },
        name="count-dossiers",
    )
    service.consume(
        Topics.SETTLEMENTS,
        {EventTypes.FEE_SETTLED: counter(settlements, settlement_facts)},
        name="count-settlements",
    )
    service.consume(
        Topics.OUTGOING_DOCUMENTS,
        {EventTypes.DOCUMENT_REGISTERED: count_document, EventTypes.DOCUMENT_ISSUED: count_document},
        name="count-documents",
    )

    asked = Operation(
        summary="The indicators, in total and per procedure, agency and month",
        description="QĐ 766's and the provincial DTI's indicators computed from the events read so far, with "
        "their definitions (docs/indicators.md).",
        parameters=tuple(
            Parameter(name, "query", description, schema, example="procedure,month" if name == "by" else None)
            for name, (description, schema) in QUERY_PARAMETERS.items()
        ),
        replies={
            200: Reply(
                "The report.",
                IndicatorsReport,
                {
                    "generated_at": "2026-11-24T09:00:00+07:00",
                    "time_zone": "Asia/Ho_Chi_Minh",
                    "group_by": [],
                    "filters": {},
                    "definitions": [],
                    "totals": {},
                    "groups": [],
                },
            ),
            400: refusal(
                "A parameter that is not one, given twice, or of the wrong form.",
                "month",
                "format",
                "'2026-13' is not a month as YYYY-MM",
            ),
        },
    )

    def query_of(request: HttpRequest) -> Query:
        try:
            return parse_query(request.query)
        except InvalidQuery as exc:
            raise HttpError(400, exc.errors) from exc

    async def part(request: HttpRequest, partitions: frozenset[int]) -> dict[str, Any]:
        """The figures of the facts on `partitions` (those this worker holds)."""
        placement = service.placement()
        assert placement is not None  # only asked once the partitions are known

        def held(key: str) -> bool:
            return placement.partition(key) in partitions

        figures = tally(
            [(code, facts) for code, facts in dossiers.items() if held(code)],
            {code: paid for code, paid in settlements.items() if held(code)},
            [facts for document_id, facts in documents.items() if held(document_id)],
            query_of(request),
            zone=zone,
            generated_at=service.clock.now(),
            procedures=procedures,
            calendar=calendar,
        )
        return part_body(partitions, {"tallies": figures.to_json()})

    @service.route("GET", "/api/v1/indicators", access=PUBLIC, operation=asked)
    async def indicators(request: HttpRequest) -> dict[str, Any]:
        query = query_of(request)
        total = Tallies.empty()
        for found in await service.gather(request, PART_PATH, part):
            total.merge(Tallies.from_json(found.body["tallies"]))
        computed = render(
            total, query, zone=zone, agency_names=agency_names, generated_at=service.clock.now()
        )
        # the report as IndicatorsReport declares it: its OpenAPI schema is the answer's own
        return IndicatorsReport.model_validate(computed).model_dump()

    partial = Operation(
        summary="This worker's part of the indicators (the service's own workers ask it)",
        description="The figures of the partitions this worker holds, before they become ratios: aggregates "
        "only, as public as the indicators. The worker asked for the indicators adds up every worker's part.",
        parameters=asked.parameters,
        replies={
            200: Reply(
                "The part.",
                IndicatorsPart,
                {"partitions": [0, 1, 2], "tallies": {"totals": {}, "groups": []}},
            ),
            400: asked.replies[400],
            503: refusal(
                "Its partitions are moving (a worker joined or left): ask again.",
                "(service)",
                "rebalancing",
                "this worker is still taking its partitions; try again in a moment",
            ),
        },
    )

    @service.route("GET", PART_PATH, access=PUBLIC, operation=partial)
    async def own_part(request: HttpRequest) -> dict[str, Any]:
        """This worker's part of the indicators, for the worker that gathers them (aggregates only)."""
        placement = service.placement()
        if placement is None or not service.is_ready():
            raise moving("this worker is still taking its partitions")
        found = await part(request, placement.mine)
        return IndicatorsPart.model_validate(found).model_dump()

    shown = Operation(
        summary="The dashboard: the indicators as charts and tables",
        description="A static page drawing the JSON of /api/v1/indicators, refreshing itself.",
        replies={200: Reply("The page (text/html).", example='<!doctype html><html lang="vi">…</html>')},
    )

    @service.route("GET", "/", access=PUBLIC, operation=shown)
    async def page(request: HttpRequest) -> HttpResponse:
        return HttpResponse(dashboard, media_type="text/html")

    return service
