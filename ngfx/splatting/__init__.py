"""Static and dynamic (4D) Gaussian splatting: arrives with a later issue."""

__all__: list[str] = []
