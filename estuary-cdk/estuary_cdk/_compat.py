"""The kit's compatibility-only names, in one place.

These names stay importable where the reference estuary-cdk (or an earlier version of this kit)
put them, so connectors written for it keep working unmodified; new code should use the home
named next to each (where the reference listed one in `__all__`, it stays there, underscore names
excepted). `tests/test_public_surface.py` imports every one of them, so removing one is a
deliberate change.

* `estuary_cdk.capture.common`: `Logger` (`logging.Logger`); the credential models,
  `CaptureBinding` and `ValidationError` (home: `estuary_cdk.flow`); `Task`
  (`estuary_cdk.capture`); `BaseDocument`, `AssociatedDocument` (`estuary_cdk.capture.document`);
  `_ResolvableBinding`, the binding type variable of `resolve_bindings` (source-zuora annotates
  with it).
* `estuary_cdk.http`: the credential models (home: `estuary_cdk.flow`), `Mixin`
  (`estuary_cdk.Mixin`), `Logger`, `ENCRYPTION_URL` (the default service URL; the URL in effect
  is `config_encryption_url()`).
* `estuary_cdk.capture.base_capture_connector`: `ENCRYPTION_URL` and `ConfigEncryptionError`
  (home: `estuary_cdk.http`).
* `estuary_cdk.flow`: `_BaseOAuth2CredentialsData`, the reference's base of the OAuth2
  credential models (home: `estuary_cdk._credentials`).

Removed because neither this repository nor any of the reference's 64 connectors uses them:
`TerminateTaskGroup` and `force_terminate_task_group` (shutdown here is the session's
cancellation), the engine's unused `SourcedSchema` dataclass in `capture.common` (the response
model `capture.response.SourcedSchema` stays), and the underscore engine helpers
`capture.common` used to re-export for tests (`_binding_*_task`, `_get_min_incremental_cursor`,
`_assert_tombstone_covers_key`, `_tombstone_discriminator_values`: tests import the engine's
helpers from `capture._engine`, where the tombstone checks are now `tombstones.check_tombstone`
and `tombstones.tombstone_discriminator_values`).
"""

from __future__ import annotations

from . import _credentials

__all__: list[str] = []

_CREDENTIAL_MODELS = tuple(name for name in _credentials.__all__ if name[0].isupper())

COMPAT_NAMES: dict[str, tuple[str, ...]] = {
    "estuary_cdk.capture.common": (
        "Logger",
        "AccessToken",
        "AuthorizationCodeFlowOAuth2Credentials",
        "BaseOAuth2Credentials",
        "BasicAuth",
        "ClientCredentialsOAuth2Credentials",
        "LongLivedClientCredentialsOAuth2Credentials",
        "OAuth2Spec",
        "OAuth2TokenFlowSpec",
        "ResourceOwnerPasswordOAuth2Credentials",
        "RotatingOAuth2Credentials",
        "CaptureBinding",
        "ValidationError",
        "Task",
        "BaseDocument",
        "AssociatedDocument",
        "_ResolvableBinding",
    ),
    "estuary_cdk.http": (*_CREDENTIAL_MODELS, "Mixin", "Logger", "ENCRYPTION_URL"),
    "estuary_cdk.capture.base_capture_connector": ("ENCRYPTION_URL", "ConfigEncryptionError"),
    "estuary_cdk.flow": ("_BaseOAuth2CredentialsData",),
}
"""Module -> its compatibility-only names (what the docstring lists)."""
