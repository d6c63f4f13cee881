import pytest
import yaml
from pydantic import ValidationError

from egov.paths import PROVINCES_DIR
from egov.platform.province import Province, get_province


def test_binh_thuan_loads_and_says_its_agency_code_is_unverified() -> None:
    province = get_province("binh-thuan")
    assert province.id_province_code == "060"
    assert province.level1_agency_code_verified is False
    assert all(province.agency(p.receiving_agency) for p in province.procedures)


def test_a_procedure_pointing_at_an_unknown_agency_is_refused() -> None:
    data = yaml.safe_load((PROVINCES_DIR / "binh-thuan.yaml").read_text())
    data["procedures"][0]["receiving_agency"] = "000.00.99.H11"
    with pytest.raises(ValidationError, match=r"000\.00\.99\.H11 is not an agency"):
        Province.model_validate(data)


def test_a_second_province_runs_the_same_rules_unchanged() -> None:
    """Provinces merge (Bình Thuận joined Lâm Đồng on 1/7/2025): the province is data, chosen by settings."""
    import datetime as dt

    from egov.runtime.settings import Settings
    from services.onestop.domain import Reception

    province = get_province(Settings(province="lam-dong").province)
    assert (province.name, province.id_province_code) == ("Lâm Đồng", "068")
    [procedure] = province.procedures
    receipt = Reception(province).receive(procedure.code, dt.datetime(2026, 2, 13, 3, 0, tzinfo=dt.UTC), 1)
    assert receipt.dossier_code == "000.00.12.H36-260213-0001"
    assert receipt.appointment_date == dt.date(2026, 3, 6)  # 10 working days, Tết 16–20/2 skipped
    assert get_province("binh-thuan").procedure(procedure.code) is None
