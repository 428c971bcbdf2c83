"""The one error hierarchy of bundle-extract.

Every error the library raises on bad input or a failed external step derives from
:class:`ExtractorError`. The CLI maps each family to an exit code (``exit_code``) and prints
``str(error)`` as one line; library code never prints or exits.
"""

from __future__ import annotations


class ExtractorError(Exception):
    """Base class. ``str(err)`` is a complete one-line message naming the file/object/reference."""

    exit_code: int = 1


class ConfigError(ExtractorError):
    """bundles.yaml, CLI options or post-processor options are invalid."""

    exit_code = 2


class AcquireError(ExtractorError):
    """A bundle image or directory could not be obtained."""

    exit_code = 3


class RegistryError(AcquireError):
    """The registry refused or failed a request (transport, HTTP status, bad manifest)."""


class AuthenticationError(RegistryError):
    """401/403 from the registry or the token service."""


class NotFoundError(RegistryError):
    """404: repository, tag, manifest or blob does not exist."""


class DigestMismatchError(RegistryError):
    """Downloaded content does not match the digest it was requested by."""


class UnsupportedMediaTypeError(RegistryError):
    """A manifest or layer media type this tool cannot read."""


class UnsafeLayerError(AcquireError):
    """A layer entry would escape the work directory or is not a regular file/directory."""


class NotCachedError(AcquireError):
    """Offline mode: a tag record, manifest or layer is not in the local cache."""


class BundleError(ExtractorError):
    """The bundle's files are missing or malformed (annotations.yaml, manifests/, CSV)."""

    exit_code = 4


class BundleValidationError(BundleError):
    """OLM validators rejected the bundle; ``messages`` holds every aggregated finding."""

    def __init__(self, subject: str, messages: list[str]) -> None:
        self.subject = subject
        self.messages = list(messages)
        super().__init__(f"{subject}: " + "; ".join(self.messages))

    def __reduce__(self) -> tuple[type[BundleValidationError], tuple[str, list[str]]]:
        return (type(self), (self.subject, self.messages))  # picklable: errors travel from workers


class RenderError(ExtractorError):
    """The bundle cannot be rendered with the requested options (install modes, target namespaces...)."""

    exit_code = 5


class PostProcessError(ExtractorError):
    """A post-processor failed or was given invalid options."""

    exit_code = 6


class EmitError(ExtractorError):
    """Writing charts or the helmfile failed."""

    exit_code = 7


class ToolError(ExtractorError):
    """An external program (helm, helmfile, docker-registry) failed or is missing."""

    exit_code = 8


class CatalogError(ExtractorError):
    """A file-based catalog is missing or malformed (no configs label, invalid FBC, a broken
    upgrade graph), as operator-registry would refuse it."""

    exit_code = 9


class AdoptionRefusedError(ExtractorError):
    """``adopt``: an object the new release would own belongs to another Helm release (neither the
    new nor the old release); nothing was changed."""

    exit_code = 10


class DestroyRefusedError(ExtractorError):
    """``destroy``: CRDs were to be deleted while custom resources of them remain (no ``--force``);
    the message lists them and says what was (not) deleted."""

    exit_code = 11


class EntriesError(ExtractorError):
    """Several bundles.yaml entries failed; ``errors`` pairs each entry name with its error.

    ``str()`` is one line per failing entry (``bundle 'x': <message>``), led by a count when there
    is more than one; ``exit_code`` is the first failure's.
    """

    def __init__(self, errors: list[tuple[str, ExtractorError]]) -> None:
        self.errors = list(errors)
        self.exit_code = errors[0][1].exit_code if errors else 1
        lines = [_name_entry(name, error) for name, error in self.errors]
        head = [] if len(lines) == 1 else [f"{len(lines)} bundles failed:"]
        super().__init__("\n".join(head + lines))


def _name_entry(name: str, error: ExtractorError) -> str:
    message = str(error)
    return message if f"bundle {name!r}" in message else f"bundle {name!r}: {message}"
