"""Typed errors. Every failure the user can cause or meet has its own class, so the CLI can map
them to exit codes and tests can assert on the kind of failure, not only on text."""

from __future__ import annotations


class FlowctlError(Exception):
    """Base of every error flowctl reports to the user (printed as `error: <message>`)."""


class CatalogError(FlowctlError):
    """A catalog file is missing, unreadable or malformed. The message names the file and the
    location (a JSON pointer) inside it."""

    def __init__(self, file: str, location: str, problem: str) -> None:
        self.file = file
        self.location = location
        self.problem = problem
        where = f"{file}#{location}" if location else file
        super().__init__(f"{where}: {problem}")


class UsageError(FlowctlError):
    """Bad command-line arguments or an ambiguous selection (e.g. several captures, no --name)."""


class SopsError(FlowctlError):
    """sops could not decrypt a configuration file (missing key, corrupt file, ...)."""


class ContainerEngineError(FlowctlError):
    """An image connector cannot be run: no container engine here can start it, or the engine
    cannot do what was asked (e.g. a `--network` it has no such thing for)."""


class ConnectorError(FlowctlError):
    """The connector failed: it exited non-zero, or it ended in a way the runtime does not allow.
    `last_log` is the connector's last error line (its last error-level log message, else its
    last message), shown with the error."""

    def __init__(self, message: str, last_log: str | None = None) -> None:
        self.last_log = last_log
        super().__init__(message)


class ConnectorKilledError(ConnectorError):
    """The connector was killed by a signal (`signal` is its number). `last_log` is its last
    error-level message only: what it logged last before a kill is no cause."""

    def __init__(self, message: str, signal: int, last_log: str | None = None) -> None:
        self.signal = signal
        super().__init__(message, last_log)


class ProtocolError(ConnectorError):
    """The connector wrote something the protocol forbids at that point."""


class BuildError(FlowctlError):
    """The build (spec + validate) produced an inconsistent task, e.g. duplicate resource paths."""


class DocumentValidationError(FlowctlError):
    """A combined document does not conform to its collection's write schema."""

    def __init__(
        self, collection: str, key: list[object], location: str, schema_path: str, message: str
    ) -> None:
        self.collection = collection
        self.key = key
        self.location = location
        self.schema_path = schema_path
        super().__init__(
            f"document of collection {collection!r} with key {_json(key)} failed validation against its "
            f"write schema: at {location or '/'} (schema path {schema_path}): {message}"
        )


class DocumentKeyError(FlowctlError):
    """A document lacks a location of its collection's key (and the schema gives it no default).
    Flow refuses such a document; combining it would merge every keyless document into one.
    `position` says which document it was (e.g. its ordinal in the session and checkpoint)."""

    def __init__(
        self, collection: str, pointer: str, position: str, doc: object, index: int | None = None
    ) -> None:
        self.collection = collection
        self.pointer = pointer
        self.position = position
        self.doc = doc
        self.index = index  # within the batch of documents being combined
        try:
            text = _json(doc)
        except TypeError:  # integers beyond 64 bits
            text = repr(doc)
        if len(text) > 300:
            text = text[:300] + "…"
        super().__init__(
            f"{position} of collection {collection!r} has no value at its key location {pointer}: "
            f"every document must carry its key (it would otherwise merge with other keyless "
            f"documents). The document: {text}"
        )

    def at(self, position: str) -> DocumentKeyError:
        """The same error with a more precise position."""
        return DocumentKeyError(self.collection, self.pointer, position, self.doc, self.index)


class FixtureError(FlowctlError):
    """A `--fixture` file is unreadable or a line of it is not a document or commit marker. The
    message names the file and line."""


class ConnectorTimeoutError(ConnectorError):
    """The connector did not answer within the bound; the message says what was awaited."""


class DataPlaneError(FlowctlError):
    """The local pipeline's data plane file cannot be opened or written."""


class ReduceError(FlowctlError):
    """Two documents could not be reduced with the schema's `reduce` annotations."""


def _json(value: object) -> str:
    import orjson

    return orjson.dumps(value).decode()
