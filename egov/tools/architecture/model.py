"""The architecture model, loaded from `architecture/model.yaml` and validated with pydantic.

The model is the architects' document: layers of the MIC framework as the province's v1.0 uses them, the
components of each layer and the service implementing each, the topics with their owner and readers, the
flows as ordered steps of events, and the rules. It is data; `egov.tools.architecture.verify` compares it with
the code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from egov.paths import ARCHITECTURE_DIR

MODEL_PATH = ARCHITECTURE_DIR / "model.yaml"

Status = Literal["implemented", "planned", "external", "out-of-scope"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Component(_Frozen):
    id: str
    name: str
    name_en: str
    status: Status
    service: str | None = None

    @model_validator(mode="after")
    def _service_matches_status(self) -> Component:
        if self.status in ("implemented", "planned") and not self.service:
            raise ValueError(f"component {self.id} is {self.status} but names no service")
        if self.status in ("external", "out-of-scope") and self.service:
            raise ValueError(f"component {self.id} is {self.status} but names service {self.service}")
        return self


class Layer(_Frozen):
    id: str
    name: str
    name_en: str
    components: tuple[Component, ...]


class TopicModel(_Frozen):
    name: str
    owner: str
    readers: tuple[str, ...] = ()


class Step(_Frozen):
    from_: str = Field(alias="from")
    event: str
    topic: str | None = None
    to: tuple[str, ...]


class Flow(_Frozen):
    id: str
    name: str
    name_en: str
    status: Literal["implemented", "planned"]
    covered_by: str | None = None
    steps: tuple[Step, ...]

    @model_validator(mode="after")
    def _implemented_flows_are_complete(self) -> Flow:
        if self.status == "implemented":
            if not self.covered_by:
                raise ValueError(f"flow {self.id} is implemented but names no end-to-end test (covered_by)")
            missing = [i + 1 for i, step in enumerate(self.steps) if not step.topic]
            if missing:
                raise ValueError(f"flow {self.id} is implemented but steps {missing} name no topic")
        return self


class Rule(_Frozen):
    """A rule of the architecture; its parameters, where it has any, are data too."""

    id: str
    text: str
    via: str | None = None
    separated_layers: tuple[str, ...] = ()
    separated_components: tuple[str, ...] = ()
    reader_layers: tuple[str, ...] = ()
    forbidden_owner_layers: tuple[str, ...] = ()
    observer_layers: tuple[str, ...] = ()


class Principal(_Frozen):
    """A party outside the services that connects to the broker (each service is a principal of its own).

    `acts_as` gives it what the model gives that service's topics (a vendor's system in the stand-in's place);
    `reads_all` lets it read every modelled topic and write none (an operator's tools); `counterpart_of`
    names roles of architecture/conformance-roles.yaml whose counterparts it plays (the conformance kit): it
    may write what those roles read and read what they write."""

    id: str
    name: str
    name_en: str
    acts_as: str | None = None
    reads_all: bool = False
    counterpart_of: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> Principal:
        kinds = [self.acts_as is not None, self.reads_all, bool(self.counterpart_of)]
        if sum(kinds) != 1:
            raise ValueError(
                f"principal {self.id} must either act as a service, read every topic, or play the "
                "counterparts of conformance roles"
            )
        return self


class ArchitectureModel(_Frozen):
    name: str
    name_en: str
    approved_by: str
    framework: str
    province: str
    layers: tuple[Layer, ...]
    topics: tuple[TopicModel, ...]
    flows: tuple[Flow, ...]
    rules: tuple[Rule, ...]
    principals: tuple[Principal, ...] = ()

    @model_validator(mode="after")
    def _ids_are_unique(self) -> ArchitectureModel:
        for what, ids in (
            ("layer", [layer.id for layer in self.layers]),
            ("component", [c.id for c in self.components()]),
            ("topic", [t.name for t in self.topics]),
            ("flow", [f.id for f in self.flows]),
            ("rule", [r.id for r in self.rules]),
            ("principal", [p.id for p in self.principals]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{what} ids must be unique: {', '.join(duplicates)}")
        unknown = [p.id for p in self.principals if p.acts_as and p.acts_as not in self.services()]
        if unknown:
            raise ValueError(f"principals acting as no service of the model: {', '.join(unknown)}")
        return self

    def components(self) -> list[Component]:
        return [c for layer in self.layers for c in layer.components]

    def layers_of(self, service: str) -> set[str]:
        """The ids of every layer where the service implements a component."""
        return {layer.id for layer in self.layers for c in layer.components if c.service == service}

    def services(self, *statuses: Status) -> set[str]:
        """Services of the components with these statuses (all with a service when none is given)."""
        return {c.service for c in self.components() if c.service and (not statuses or c.status in statuses)}

    def topic(self, name: str) -> TopicModel | None:
        return next((t for t in self.topics if t.name == name), None)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def components_of(self, service: str) -> list[Component]:
        return [c for c in self.components() if c.service == service]


def load_model(path: Path = MODEL_PATH) -> ArchitectureModel:
    return ArchitectureModel.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def get_model() -> ArchitectureModel:
    return load_model()
