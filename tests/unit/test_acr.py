"""Which acr level a request's device pages must reach (README, "The authentication device's pages": acr levels)."""

from __future__ import annotations

import pytest

from services.gateway.acr import ACR_VALUES_SUPPORTED, required_level


def test_pwd_and_mfa_are_supported() -> None:
    assert ACR_VALUES_SUPPORTED == ("pwd", "mfa")


@pytest.mark.parametrize(
    ("acr_values", "level"),
    [
        (None, "pwd"),
        (["pwd"], "pwd"),
        (["mfa"], "mfa"),
        (["mfa", "pwd"], "mfa"),
        (["pwd", "mfa"], "pwd"),
        (["urn:other", "mfa", "pwd"], "mfa"),
    ],
)
def test_the_first_supported_value_in_order_of_preference_is_required(acr_values, level) -> None:
    assert required_level(acr_values) == level


def test_a_list_without_a_supported_value_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        required_level(["urn:other"])
