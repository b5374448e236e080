"""Talking to vision-language models: OpenAI-compatible HTTP, local transformers, ONNX Runtime.

The lowest layer; it imports none of grounding, tracker or pcagent.
"""
