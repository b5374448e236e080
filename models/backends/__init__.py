"""Model backends: any OpenAI-compatible server over HTTP, local transformers models, ONNX Runtime; Qwen-VL
folders as published (qwen_vl) and their split ONNX exports (onnx_qwen_vl)."""
