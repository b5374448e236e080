"""Model backends: any OpenAI-compatible server over HTTP, local transformers models, ONNX Runtime."""
