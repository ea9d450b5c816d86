"""Helpers of the LayerBridge Gradio app (app.py): settings, input checks, model registry, HTML views."""
