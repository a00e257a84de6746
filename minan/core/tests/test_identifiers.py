import pytest

from minan.core.identifiers import check_uscc, uscc_check_character


@pytest.mark.parametrize(
    "code",
    [
        "91110108551385082Q",
        "91110000600037341L",
        "52370811551385082E",
        "12370800551385082L",
        "N2370811551385082W",
        "Y1370811551385082P",
    ],
)
def test_valid_codes_of_domain_md(code: str) -> None:
    assert check_uscc(code).valid
    assert check_uscc(code.lower()).valid


def test_wrong_check_character_names_the_expected_one() -> None:
    result = check_uscc("91110108551385082A")
    assert (result.valid, result.error, result.expected) == (False, "check", "Q")


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("", "format"),
        ("9111010855138508", "format"),
        ("01110108551385082Q", "format"),
        ("91110108551385082I", "format"),
    ],
)
def test_malformed_codes(code: str, error: str) -> None:
    assert check_uscc(code).error == error


def test_check_character_computation() -> None:
    assert uscc_check_character("91110108551385082") == "Q"
    assert uscc_check_character("N2370811551385082") == "W"
