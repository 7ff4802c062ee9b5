"""What realistic batch work looks like: actions, object names and weighted error mixes.

Error codes follow the services' ``Category.Detail`` style; the weights make the common
failures (damaged input) common and the rare ones (internal errors) rare.
"""

from __future__ import annotations

from dataclasses import dataclass

_NOT_FOUND = ("ResourceNotFound.Object", "The specified OSS object does not exist.")
_INTERNAL = ("InternalError", "An internal error occurred. Try again later.")


@dataclass(frozen=True, slots=True)
class Profile:
    """One kind of batch work: its action, task type, objects and failure mix."""

    action: str
    parameters: tuple[str, ...]
    task_type: str
    extension: str
    target_extension: str
    projects: tuple[str, ...]
    bucket: str
    out_bucket: str
    folders: tuple[str, ...]
    stems: tuple[str, ...]
    duration_ms: tuple[int, int]
    errors: tuple[tuple[int, tuple[str, str]], ...]  # (weight, (Code, Message))


DOC = Profile(
    "doc/convert", ("target=pdf",), "OfficeConversion", ".docx", ".pdf",
    ("docs-prod", "docs-staging", "legal-archive"), "docs-in", "docs-out",
    ("contracts", "invoices", "reports", "hr/policies"),
    ("contract", "invoice", "report", "minutes", "proposal"),
    (1_500, 12_000),
    (
        (50, ("InvalidFile.Corrupted", "The source document is damaged and cannot be opened.")),
        (20, _NOT_FOUND),
        (15, ("InvalidArgument.Format", "The source format cannot be converted to pdf.")),
        (10, ("Timeout.Conversion", "The conversion did not finish within the time limit.")),
        (5, _INTERNAL),
    ),
)  # fmt: skip
VIDEO = Profile(
    "video/convert", ("target=mp4", "vcodec=h264"), "MediaConvert", ".mov", ".mp4",
    ("media-prod", "media-staging"), "media-in", "media-out",
    ("raw/cam-a", "raw/cam-b", "interviews", "events"),
    ("clip", "take", "broll", "scene"),
    (8_000, 90_000),
    (
        (40, ("InvalidFile.Corrupted", "The video stream is damaged and cannot be decoded.")),
        (20, _NOT_FOUND),
        (15, ("InvalidArgument.Format", "The source container or codec is not supported.")),
        (15, ("Timeout.Conversion", "The transcoding did not finish within the time limit.")),
        (10, _INTERNAL),
    ),
)  # fmt: skip
PROFILES = (DOC, VIDEO)
TEAMS = ("legal-archive", "media-ops", "content", "data-platform")


ICE_ERRORS: tuple[tuple[int, tuple[str, str]], ...] = (
    (45, ("InvalidParameter.Timeline", "The timeline references a clip that does not exist.")),
    (20, ("InvalidParameter.OutputMediaConfig", "The output media configuration is invalid.")),
    (15, ("ResourceNotFound.Media", "A media asset used by the timeline has been deleted.")),
    (10, ("Timeout.Produce", "Rendering did not finish within the time limit.")),
    (10, ("InternalError", "An internal error occurred. Try again later.")),
)
ICE_BUCKETS = ("ice-output", "promo-videos", "social-clips")
