"""Values JSON cannot carry fail before the network, with the field named."""

from __future__ import annotations

import math

import pytest
import respx

from ark_context import ArkContextClient, ArkInputError


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_sampling_values_are_rejected_before_sending(value):
    client = ArkContextClient(api_key="k-1234", base_url="http://127.0.0.1:9/api/v3")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().respond(200, json={})
        with pytest.raises(ArkInputError, match=r"temperature=.* is not a finite number"):
            client.chat(
                context_id="ctx-1",
                model="ep",
                messages=[{"role": "user", "content": "hi"}],
                temperature=value,
            )
        assert not route.called


def test_error_responses_do_not_carry_the_key_in_their_request():
    from ark_context import ArkAuthenticationError

    client = ArkContextClient(api_key="k-secret-9876", base_url="http://127.0.0.1:9/api/v3")
    with respx.mock() as mock:
        mock.post(url__regex=r".*/context/chat/completions").respond(
            401, json={"error": {"code": "AuthenticationError", "message": "bad key"}}
        )
        with pytest.raises(ArkAuthenticationError) as info:
            client.chat(context_id="ctx-1", model="ep", messages=[{"role": "user", "content": "x"}])
    headers = dict(info.value.response.request.headers)
    assert "k-secret-9876" not in repr(headers) and headers["authorization"] == "Bearer ***"
    assert "ARK_API_KEY" in str(info.value)
