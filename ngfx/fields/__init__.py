"""Neural fields (NeRF, neural SDF, image fitting, neural volumes): arrive with later issues."""

__all__: list[str] = []
