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
