"""`stateKey` of a binding, exactly as the runtime derives it from the resource path."""

from __future__ import annotations

_KEEP = frozenset("-_+.=")


def encode_state_key(resource_path: list[str], backfill: int) -> str:
    """Join with `/`, keep Unicode letters/digits and `-_+.=`, percent-encode everything else
    (UTF-8 bytes, upper-case hex), then append `.v<backfill>` when backfill is non-zero."""
    out: list[str] = []
    for ch in "/".join(resource_path):
        if ch.isalnum() or ch in _KEEP:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    key = "".join(out)
    return f"{key}.v{backfill}" if backfill else key
