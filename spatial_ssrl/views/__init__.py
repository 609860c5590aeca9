"""Views for people: explanatory overlays and the depth map (`explain`), the 3D point view (`geometry`).
Above tasks; nothing below imports them."""
