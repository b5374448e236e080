"""Human-agent collaboration: approval gates (the protocol and the terminal gate), guards and metrics."""
