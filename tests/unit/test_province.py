import pytest
import yaml
from pydantic import ValidationError

from egov.paths import PROVINCES_DIR
from egov.province import Province, get_province


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
