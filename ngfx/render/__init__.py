"""The render core shared by headless rendering and the viewer, camera paths, frame output, sources."""

__all__: list[str] = []
