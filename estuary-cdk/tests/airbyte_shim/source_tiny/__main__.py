# As the reference's Airbyte-based connectors start: the polyfill before anything imports pydantic
# models, the requests patch second.
import estuary_cdk.pydantic_polyfill  # noqa: I001
import estuary_cdk.requests_session_send_patch  # noqa: F401

import asyncio

from estuary_cdk import flow, shim_airbyte_cdk

from source_tiny import SourceTiny

asyncio.run(
    shim_airbyte_cdk.CaptureShim(
        delegate=SourceTiny(),
        oauth2=flow.OAuth2Spec(
            provider="tiny",
            accessTokenBody="grant_type=authorization_code&code={{#urlencode}}{{{ code }}}{{/urlencode}}",
            authUrlTemplate="https://tiny.example.com/authorize?client_id={{#urlencode}}{{{ client_id }}}{{/urlencode}}",
            accessTokenHeaders={},  # At its default: left out of the spec.
            accessTokenResponseMap={"refresh_token": "/refresh_token"},
            accessTokenUrlTemplate="https://tiny.example.com/token",
        ),
        schema_inference=True,
    ).serve()
)
