"""A model profile: everything needed to reach one model, minus the secret itself.

Profiles are loaded from TOML (`models.profiles`); the API key is never a field — only
where to find it (an environment variable or the OS keyring). Other fields can still carry a
secret (a key in a URL's query, a token header, a body field), so `to_dict` and `safe_url` mask
them before a profile is printed, logged or stored in a trajectory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def safe_url(url: str | None) -> str | None:
    """``url`` with its user, password and every query value masked (a key may ride in ``?key=``)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not parseable as a URL: show nothing of it
        return MASK
    netloc = (f"{MASK}@" if parts.username or parts.password else "") + host + port
    query = "&".join(f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK
                     for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _safe_value(value: object) -> object:
    """Numbers and flags (top_k, seed) stay; text and structures may hold a secret."""
    return value if value is None or isinstance(value, (bool, int, float)) else MASK

BACKENDS = ("openai", "transformers", "onnx")
# How a grounding model writes a point (see grounding.coordinates):
OUTPUT_CONVENTIONS = (
    "molmo_percent",  # <point x="12.5" y="40.1"> in percent of the image
    "norm1000",  # (x, y) in 0..1000 of the image (OS-Atlas, UI-TARS 1.0/2, Qwen2-VL, Qwen3-VL, Molmo2)
    "absolute",  # (x, y) in pixels of the image the model was given
    "uitars_resized",  # (x, y) in pixels of the factor-28 "smart resized" image (UI-TARS 1.5, Qwen2.5-VL, OpenCUA)
    "norm1",  # (x, y) in 0..1 of the image (OpenCUA-Qwen2-7B and -A3B)
)
# What a planner model writes (pcagent.agent.planners picks the planner from it):
ACTION_FORMATS = (
    "pcagent",  # our grammar, "Action: click (x, y)" (PC Agent-E); targets by name unless output_convention is set
    "uitars",  # UI-TARS: "Action: click(start_box='(x,y)')"
    "qwen_computer_use",  # Qwen2.5-VL / Qwen3-VL: <tool_call>{"name": "computer_use", ...}</tool_call>
    "opencua",  # OpenCUA: "## Code:" with one pyautogui block
    "tool_calls",  # the computer_use function through OpenAI-style tool_calls (a server with function calling)
)


@dataclass(frozen=True)
class ModelProfile:
    name: str
    backend: str = "openai"
    model: str = ""  # the server's model name, or a local path / hub id for transformers and onnx
    base_url: str | None = None  # openai: e.g. http://127.0.0.1:8000/v1
    api_key_env: str | None = None  # read the key from this environment variable
    api_key_keyring: str | None = None  # or from the OS keyring: "service" or "service:username"
    image_max_pixels: int = 1920 * 1080  # images are resized to fit this many pixels
    image_format: str = "png"  # "png" | "jpeg" for data URLs
    temperature: float | None = 0.0
    top_p: float | None = None
    max_tokens: int = 512
    timeout_s: float = 60.0
    max_retries: int = 3
    output_convention: str | None = None  # how its coordinates are written; one of OUTPUT_CONVENTIONS
    action_format: str = "pcagent"  # what it writes as a planner; one of ACTION_FORMATS
    device: str | None = None  # transformers: "cuda", "cpu", None = cuda when available
    providers: tuple[str, ...] = ()  # onnx: ("CUDAExecutionProvider", "CPUExecutionProvider")
    onnx_dtype: str | None = None  # onnx: graph variant ("fp32", "fp16", "q4", ...); None = fp32, else the only one
    image_min_pixels: int | None = None  # transformers/onnx Qwen-VL: smallest resized image; None = the model's own
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a token
    extra_body: dict = field(default_factory=dict)  # sent as-is to the server (e.g. top_k)

    def to_dict(self) -> dict:
        """JSON-ready and safe to store: the URL's credentials and query values, every header value and
        every non-numeric body value are masked."""
        data = asdict(self)
        data["providers"] = list(self.providers)
        data["base_url"] = safe_url(self.base_url)
        data["extra_headers"] = {key: MASK for key in self.extra_headers}
        data["extra_body"] = {key: _safe_value(value) for key, value in self.extra_body.items()}
        return data
