"""What a run reads: samples, media, prompts, the selection and the few-shot pool."""
