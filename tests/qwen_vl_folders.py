"""Tiny random-weight Qwen-VL model folders in the layout their publishers ship, built with no hub.

- `build_qwen2_5_vl(folder)`: like Qwen/Qwen2.5-VL-7B-Instruct (and UI-TARS-1.5): a flat config.json
  (text fields at the top level, as transformers 4.x wrote them), generation_config.json, weights in
  model.safetensors under the checkpoint's own key names (`model.layers.*`, `visual.*`), the byte-level BPE
  tokenizer files (tokenizer.json, vocab.json, merges.txt, tokenizer_config.json with Qwen2Tokenizer),
  preprocessor_config.json with min_pixels / max_pixels, and the publisher's chat template in
  chat_template.json.
- `build_qwen3_vl(folder)`: like Qwen/Qwen3-VL-2B-Instruct: config.json with text_config / vision_config,
  tied embeddings (no lm_head), preprocessor_config.json with `size` and 16-pixel patches, a
  video_preprocessor_config.json, and a Qwen3-VL-style chat template (a `render_content` macro; the
  published one also renders tools and thinking, left out here).
- `export_qwen_vl_onnx(load_eager(source), source, folder)`: that model as an onnx-community split export (see
  models.backends.onnx_qwen_vl): embed_tokens and decoder_model_merged exported from torch, and a
  vision_encoder built with onnx's helper in the published names (a plain trace of the real encoder would
  fix the image grid): it merges each 2x2 window of patch rows and projects it with a fixed random matrix.

Widths are 32-64 and two layers, so everything loads and generates in well under a second.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                  "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
CORPUS = ["You are a helpful assistant.", "click the Save button at the top left of the window",
          "type text hello world", "press key enter", "scroll down", "Action: finish"]

# Qwen2-VL / Qwen2.5-VL / UI-TARS-1.5, as published in their chat_template.json.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}"
    "{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}")

QWEN3_VL_CHAT_TEMPLATE = """{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- macro render_content(content, do_vision_count) %}
    {%- if content is string %}
        {{- content }}
    {%- else %}
        {%- for item in content %}
            {%- if 'image' in item or 'image_url' in item or item.type == 'image' %}
                {%- if do_vision_count %}
                    {%- set image_count.value = image_count.value + 1 %}
                {%- endif %}
                {%- if add_vision_id %}
                    {{- 'Picture ' ~ image_count.value ~ ': ' }}
                {%- endif %}
                {{- '<|vision_start|><|image_pad|><|vision_end|>' }}
            {%- elif 'video' in item or item.type == 'video' %}
                {{- '<|vision_start|><|video_pad|><|vision_end|>' }}
            {%- elif 'text' in item %}
                {{- item.text }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- if not messages %}
    {{- raise_exception('No messages provided.') }}
{%- endif %}
{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + render_content(messages[0].content, false) + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "assistant" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + render_content(message.content, true) + '<|im_end|>\\n' }}
    {%- elif message.role != "system" %}
        {{- raise_exception('Unexpected message role.') }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""


def write_tokenizer(folder: Path) -> tuple[dict[str, int], int]:
    """Byte-level BPE trained on a few lines, the special tokens after it (as in Qwen's vocabulary), saved
    as tokenizer.json, vocab.json and merges.txt, plus a Qwen2Tokenizer tokenizer_config.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 4, trainer)
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    tokenizer.model.save(str(folder))
    ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
    added = {str(ids[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                           "single_word": False, "special": True} for t in SPECIAL_TOKENS}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "add_prefix_space": False, "added_tokens_decoder": added, "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 32768, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}, indent=2))
    return ids, tokenizer.get_vocab_size()


def _save_weights(model: Any, path: Path, rename: Any = None, skip: tuple[str, ...] = ()) -> None:
    from safetensors.torch import save_file

    state = {(rename(key) if rename else key): value.contiguous()
             for key, value in model.state_dict().items() if key not in skip}
    save_file(state, str(path), metadata={"format": "pt"})


def _legacy_qwen2_5_key(key: str) -> str:
    """transformers 5's module names back to the names in the published Qwen2.5-VL checkpoints."""
    if key.startswith("model.language_model."):
        return "model." + key[len("model.language_model."):]
    if key.startswith("model.visual."):
        return "visual." + key[len("model.visual."):]
    return key


def build_qwen2_5_vl(folder: Path, *, initializer_range: float = 0.2) -> Path:
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    ids, vocab_size = write_tokenizer(folder)
    config = {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0,
        "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
        "vision_start_token_id": ids["<|vision_start|>"], "vision_end_token_id": ids["<|vision_end|>"],
        "vision_token_id": ids["<|vision_pad|>"], "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"], "hidden_act": "silu", "hidden_size": 64,
        "initializer_range": initializer_range, "intermediate_size": 128, "max_position_embeddings": 4096,
        "max_window_layers": 2, "model_type": "qwen2_5_vl", "num_attention_heads": 2, "num_hidden_layers": 2,
        "num_key_value_heads": 1, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 4096,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.41.2", "use_cache": True,
        "use_sliding_window": False, "vocab_size": vocab_size,
        "vision_config": {"depth": 2, "hidden_act": "silu", "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                          "in_chans": 3, "out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2,
                          "spatial_patch_size": 14, "window_size": 112, "fullatt_block_indexes": [1],
                          "tokens_per_second": 2, "temporal_patch_size": 2, "initializer_range": initializer_range},
        "rope_scaling": {"type": "mrope", "mrope_section": [4, 6, 6]},
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(json.dumps({
        "bos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"], "do_sample": True,
        "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]], "repetition_penalty": 1.05, "temperature": 0.1,
        "top_p": 0.001, "top_k": 1, "transformers_version": "4.49.0"}))
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2, "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor"}))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": QWEN2_5_VL_CHAT_TEMPLATE}))
    torch.manual_seed(0)
    model = transformers.Qwen2_5_VLForConditionalGeneration(transformers.AutoConfig.from_pretrained(folder))
    _save_weights(model, folder / "model.safetensors", rename=_legacy_qwen2_5_key)
    return folder


def build_qwen3_vl(folder: Path, *, initializer_range: float = 0.2) -> Path:
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    ids, vocab_size = write_tokenizer(folder)
    config = {
        "architectures": ["Qwen3VLForConditionalGeneration"], "image_token_id": ids["<|image_pad|>"],
        "model_type": "qwen3_vl", "tie_word_embeddings": True, "transformers_version": "4.57.0.dev0",
        "video_token_id": ids["<|video_pad|>"], "vision_end_token_id": ids["<|vision_end|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "text_config": {
            "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": ids["<|endoftext|>"],
            "dtype": "bfloat16", "eos_token_id": ids["<|im_end|>"], "head_dim": 32, "hidden_act": "silu",
            "hidden_size": 64, "initializer_range": initializer_range, "intermediate_size": 128,
            "max_position_embeddings": 4096, "model_type": "qwen3_vl_text", "num_attention_heads": 2,
            "num_hidden_layers": 2, "num_key_value_heads": 1,
            "rms_norm_eps": 1e-06, "rope_scaling": {"mrope_interleaved": True, "mrope_section": [6, 5, 5],
                                                    "rope_type": "default"},
            "rope_theta": 5000000, "tie_word_embeddings": True, "use_cache": True, "vocab_size": vocab_size},
        "vision_config": {
            "deepstack_visual_indexes": [0], "depth": 2, "hidden_act": "gelu_pytorch_tanh", "hidden_size": 32,
            "in_channels": 3, "initializer_range": initializer_range, "intermediate_size": 64, "model_type": "qwen3_vl",
            "num_heads": 2, "num_position_embeddings": 64, "out_hidden_size": 64, "patch_size": 16,
            "spatial_merge_size": 2, "temporal_patch_size": 2},
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(json.dumps({
        "bos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"], "do_sample": True,
        "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]], "top_k": 20, "top_p": 0.8, "temperature": 0.7,
        "transformers_version": "4.56.0"}))
    image_config = {"patch_size": 16, "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5],
                    "image_std": [0.5, 0.5, 0.5], "processor_class": "Qwen3VLProcessor"}
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "size": {"longest_edge": 16777216, "shortest_edge": 65536}, **image_config,
        "image_processor_type": "Qwen2VLImageProcessorFast"}))
    (folder / "video_preprocessor_config.json").write_text(json.dumps({
        "size": {"longest_edge": 25165824, "shortest_edge": 4096}, **image_config,
        "video_processor_type": "Qwen3VLVideoProcessor"}))
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": QWEN3_VL_CHAT_TEMPLATE}))
    torch.manual_seed(0)
    model = transformers.Qwen3VLForConditionalGeneration(transformers.AutoConfig.from_pretrained(folder))
    _save_weights(model, folder / "model.safetensors", skip=("lm_head.weight",))
    return folder


def vision_encoder_graph(hidden: int, patch_row: int = 1176, merge_size: int = 2, seed: int = 0,
                         input_names: tuple[str, str] = ("pixel_values", "grid_thw")) -> Any:
    """image_features = (2x2 windows of pixel_values rows) @ W, reshaped to the token count grid_thw gives,
    so a grid that does not match the rows fails in the graph as it would in a real encoder."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    pixels, grid = input_names
    window = merge_size * merge_size
    weight = np.random.default_rng(seed).normal(0, 1 / np.sqrt(window * patch_row),
                                                (window * patch_row, hidden)).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", [pixels, "window_shape"], ["windows"]),
        helper.make_node("MatMul", ["windows", "weight"], ["projected"]),
        helper.make_node("ReduceProd", [grid, "last_axis"], ["patches_per_image"], keepdims=0),
        helper.make_node("ReduceSum", ["patches_per_image", "first_axis"], ["patches"], keepdims=1),
        helper.make_node("Div", ["patches", "window_size"], ["tokens"]),
        helper.make_node("Concat", ["tokens", "hidden_size"], ["features_shape"], axis=0),
        helper.make_node("Reshape", ["projected", "features_shape"], ["image_features"]),
    ]
    constants = [
        numpy_helper.from_array(np.asarray([-1, window * patch_row], np.int64), "window_shape"),
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(np.asarray([1], np.int64), "last_axis"),
        numpy_helper.from_array(np.asarray([0], np.int64), "first_axis"),
        numpy_helper.from_array(np.asarray([window], np.int64), "window_size"),
        numpy_helper.from_array(np.asarray([hidden], np.int64), "hidden_size"),
    ]
    graph = helper.make_graph(
        nodes, "vision_encoder",
        [helper.make_tensor_value_info(pixels, TensorProto.FLOAT, ["patches", patch_row]),
         helper.make_tensor_value_info(grid, TensorProto.INT64, ["images", 3])],
        [helper.make_tensor_value_info("image_features", TensorProto.FLOAT, ["tokens", hidden])],
        initializer=constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def load_eager(source: Path) -> Any:
    """The model in `source` with eager attention: its masks are plain tensor code, so a trace of it
    holds for every past and sequence length."""
    import torch
    import transformers

    return transformers.AutoModelForImageTextToText.from_pretrained(
        source, local_files_only=True, dtype=torch.float32, attn_implementation="eager").eval()


def export_qwen_vl_onnx(model: Any, source: Path, folder: Path) -> Path:
    """`model` (`load_eager(source)` of a Qwen2/2.5-VL folder) as an onnx-community style export in `folder`:
    the JSON and tokenizer files at the top (the chat template inside tokenizer_config.json, as those
    exports carry it) and the graphs in onnx/."""
    import onnx
    import torch
    from transformers import DynamicCache

    graphs = folder / "onnx"
    graphs.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
                 "vocab.json", "merges.txt"):
        shutil.copy(source / name, folder / name)
    tokenizer_config = json.loads((source / "tokenizer_config.json").read_text())
    tokenizer_config["chat_template"] = json.loads((source / "chat_template.json").read_text())["chat_template"]
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))

    text_config = model.config.text_config
    layers, hidden = text_config.num_hidden_layers, text_config.hidden_size
    kv_heads, head_dim = text_config.num_key_value_heads, hidden // text_config.num_attention_heads

    class Embed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = model.get_input_embeddings()

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            return self.embed(input_ids)

    class DecoderWithPast(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.text, self.head = model.model.language_model, model.lm_head

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                    *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
            cache = DynamicCache(config=text_config)
            for i in range(layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            hidden_states = self.text(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                      position_ids=position_ids, cache=cache, use_cache=True).last_hidden_state
            present = [tensor for layer in cache.layers for tensor in (layer.keys, layer.values)]
            return (self.head(hidden_states), *present)

    past_names = [f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    present_names = [f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]
    axes = {"inputs_embeds": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
            "position_ids": {1: "batch", 2: "seq"}, "logits": {0: "batch", 1: "seq"},
            **{name: {0: "batch", 2: "past"} for name in past_names},
            **{name: {0: "batch", 2: "total"} for name in present_names}}
    past_length, length = 3, 5  # a non-empty past, so the trace keeps the cache path general
    example = (torch.randn(1, length, hidden), torch.ones(1, past_length + length, dtype=torch.int64),
               torch.arange(past_length, past_length + length).view(1, 1, -1).expand(3, 1, -1).contiguous(),
               *[torch.randn(1, kv_heads, past_length, head_dim) for _ in past_names])
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy exporter's deprecation and the tracer's notes on the cache's Python branches: the
        # test checks the exported decoder against torch for every past length it uses
        warnings.simplefilter("ignore")
        torch.onnx.export(Embed(), (torch.tensor([[1, 2, 3]]),), str(graphs / "embed_tokens.onnx"),
                          input_names=["input_ids"], output_names=["inputs_embeds"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "inputs_embeds": {0: "batch", 1: "seq"}},
                          opset_version=17, dynamo=False)
        torch.onnx.export(DecoderWithPast(), example, str(graphs / "decoder_model_merged.onnx"),
                          input_names=["inputs_embeds", "attention_mask", "position_ids", *past_names],
                          output_names=["logits", *present_names], dynamic_axes=axes, opset_version=17, dynamo=False)
    onnx.save(vision_encoder_graph(hidden), str(graphs / "vision_encoder.onnx"))
    return folder
