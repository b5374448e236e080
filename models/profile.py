"""A model profile: everything needed to reach one model, minus the secret itself.

Profiles are loaded from TOML (`models.profiles`); the API key is never a field — only
where to find it (an environment variable or the OS keyring), so a profile can be printed,
logged or stored in a trajectory without leaking it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

BACKENDS = ("openai", "transformers", "onnx")
# How a grounding model writes a point (see grounding.coordinates):
OUTPUT_CONVENTIONS = (
    "molmo_percent",  # <point x="12.5" y="40.1"> in percent of the image
    "norm1000",  # (x, y) in 0..1000 of the image (OS-Atlas, UI-TARS 1.0/2, Qwen2-VL)
    "absolute",  # (x, y) in pixels of the image the model was given (Qwen2.5-VL)
    "uitars_resized",  # (x, y) in pixels of the factor-28 "smart resized" image (UI-TARS 1.5)
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
    output_convention: str | None = None  # for grounders; one of OUTPUT_CONVENTIONS
    device: str | None = None  # transformers: "cuda", "cpu", None = cuda when available
    providers: tuple[str, ...] = ()  # onnx: ("CUDAExecutionProvider", "CPUExecutionProvider")
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a token
    extra_body: dict = field(default_factory=dict)  # sent as-is to the server (e.g. top_k)

    def to_dict(self) -> dict:
        """JSON-ready; safe to store (holds no secret)."""
        data = asdict(self)
        data["providers"] = list(self.providers)
        data["extra_headers"] = {k: ("***" if "auth" in k.lower() or "key" in k.lower() else v)
                                 for k, v in self.extra_headers.items()}
        return data
