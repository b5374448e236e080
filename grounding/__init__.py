"""Where on the screen is <description>? OCR, accessibility, template and model engines.

Imports only from models.
"""
