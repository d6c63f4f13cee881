import datetime as dt

import pytest
import yaml
from pydantic import ValidationError

from egov.paths import PROVINCES_DIR
from egov.platform.province import Province, get_province
from egov.regulations.codes import level1_code


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


def test_the_province_after_the_merger_runs_the_same_rules_unchanged() -> None:
    """Provinces merge (Bình Thuận, Đắk Nông and Lâm Đồng became Lâm Đồng on 1/7/2025): the province is data,
    chosen by settings."""
    from egov.runtime.settings import Settings
    from services.onestop.domain import Reception

    province = get_province(Settings(province="lam-dong").province)
    assert (province.name, province.id_province_code) == ("Lâm Đồng", "068")
    procedure = province.procedure("1.012796.000.00.00.H36")  # 10 working days, received at the centre
    assert procedure is not None
    receipt = Reception(province).receive(procedure.code, dt.datetime(2026, 2, 13, 3, 0, tzinfo=dt.UTC), 1)
    assert receipt.dossier_code == "H36.002-260213-0001"  # a QĐ 20/2020 agency code in the dossier code
    assert receipt.appointment_date == dt.date(2026, 3, 6)  # 10 working days, Tết 16–20/2 skipped
    assert get_province("binh-thuan").procedure(procedure.code) is None


def test_lam_dong_has_two_levels_departments_after_the_mergers_and_a_service_centre() -> None:
    province = get_province("lam-dong")
    kinds = {a.kind for a in province.agencies}
    assert "district" not in kinds and {"committee", "centre", "department", "commune"} <= kinds
    names = {a.name for a in province.agencies}
    assert {"Sở Tài chính", "Sở Nông nghiệp và Môi trường", "Sở Xây dựng", "Sở Nội vụ"} <= names
    assert not names & {"Sở Kế hoạch và Đầu tư", "Sở Giao thông vận tải", "Sở Tài nguyên và Môi trường"}
    assert "Ủy ban nhân dân đặc khu Phú Quý" in names and "Ủy ban nhân dân phường Phan Thiết" in names
    assert [a.name for a in province.agencies if a.kind == "centre"] == [
        "Trung tâm Phục vụ hành chính công tỉnh Lâm Đồng"
    ]
    assert province.valid_from == dt.date(2025, 7, 1) and province.valid_until is None
    assert set(province.id_province_codes_accepted) == {"068", "060", "067"}
    assert all(level1_code(a.code) == "H36" for a in province.agencies)
    assert not any(a.verified for a in province.agencies)  # every code is illustrative


def test_lam_dongs_catalogue_carries_units_dossier_components_and_the_boundaryless_flag() -> None:
    province = get_province("lam-dong")
    units = {p.processing_unit for p in province.procedures}
    assert units == {"working_days", "days", "same_day"}
    assert all(p.documents for p in province.procedures)
    certified = province.procedure("2.000815.000.00.00.H36")
    assert certified is not None and certified.boundaryless
    assert certified.documents[0].form == "present"
    assert not any(p.verified for p in province.procedures)


def test_binh_thuan_is_the_pre_merger_province_and_says_so() -> None:
    province = get_province("binh-thuan")
    assert province.valid_until == dt.date(2025, 6, 30)
    assert "district" in {a.kind for a in province.agencies}
    header = (PROVINCES_DIR / "binh-thuan.yaml").read_text(encoding="utf-8").split("\nname:")[0]
    assert "BEFORE 1/7/2025" in header and "Nghị quyết 202/2025/QH15" in header
    rules = {b.rule: b for b in province.legal_basis}
    assert rules["province.binh-thuan.merged"].status == "verified"
    assert rules["province.binh-thuan.level1-code"].status == "unverified"


def test_an_agency_outside_the_provinces_level1_code_is_refused() -> None:
    data = yaml.safe_load((PROVINCES_DIR / "lam-dong.yaml").read_text())
    data["agencies"].append({"code": "H15.001", "name": "Sở Tài chính tỉnh khác", "kind": "department"})
    with pytest.raises(ValidationError, match="level-1 code H36"):
        Province.model_validate(data)
    data = yaml.safe_load((PROVINCES_DIR / "lam-dong.yaml").read_text())
    data["id_province_codes_accepted"] = ["068", "999"]
    with pytest.raises(ValidationError, match="999 is not a province code"):
        Province.model_validate(data)
