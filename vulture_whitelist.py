"""Names the dead-code check (``make lint``, vulture) cannot see being used.

vulture reads the code as text: what a framework, the interpreter or a protocol calls by
name looks unused to it.  Click commands (loaded by name from ``cli/lazy_commands.LAZY``),
pytest fixtures and pydantic validators are recognised by their decorators (see
``[tool.vulture]`` in pyproject.toml); everything else is listed here, with the reason.
This file is read by vulture only, never imported.
"""

# Protocols called by the interpreter or the standard library
_.readinto  # io.RawIOBase: read() calls it
_.seekable  # io.IOBase
_.__getattr__  # a module's lazy attributes (PEP 562), distroless.debian
_.log_message  # http.server.BaseHTTPRequestHandler, silenced in the test servers
_.do_GET  # http.server dispatches on the request method
_.do_HEAD
_.do_PUT
_.do_POST
_.do_PATCH
_.do_DELETE
_.protocol_version  # http.server: HTTP/1.1 for keep-alive
_.close_connection
_.daemon_threads  # socketserver.ThreadingMixIn

# pytest: module marks and hooks are found by name
pytestmark
pytest_addoption
pytest_collection_modifyitems
pytest_terminal_summary

# pydantic: the model's settings, and fields accepted for compatibility but not acted on
model_config
_.allocateTty  # container-structure-test keys the tests accept and ignore
_.bindMounts
_.envFile
_.schemaVersion

# Dataclass fields that are written and serialised, never read by name
_.debug_of  # runtime/records.py: shown by ps --json and inspect
_.pretty_name  # verify/packages.py: the os-release record, kept whole
_.storage_driver  # tests/helpers/docker.py: the engine the tests started, for messages

# Named for the set they belong to
WRITE  # verify/access.py: READ, WRITE, EXECUTE are the permission bits

# Results library callers read: the CLI prints only part of them
_.referrer  # sign.local.Signed: the signature's OCI referrer beside its .sig manifest
_._path_with_destdir  # installer's SchemeDictionaryDestination calls it for every file
