"""Generative fine-tuning support: the offline SmolLM2 checkpoint, prompt/response and source/target data,
response-only loss masks, packing, and generation-based evaluation (perplexity, exact match, ROUGE-L)."""
