"""Exact RGB-D scenes: a small vectorised ray caster (numpy only) for the shipped demo scenes.

A world is planes, boxes and spheres with procedural (seeded value noise) or photo textures, one light
with hard shadows, and a pinhole camera. Depth is exact: z along the optical axis, in metres (as DIODE
and NYU store it), NaN where a ray meets nothing (sky). RGB is 2x2 supersampled; depth is cast through
pixel centres, so it never blends two surfaces at an edge. Pixel (u, v) is centred at integer
coordinates (OpenCV convention), so cx = (W - 1) / 2.

Regenerate every shipped asset (these renders, the photos, the manifest and the licence list) bit for bit
with the same numpy and Pillow versions:

    python -m tools.build_assets --out assets
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

EPSILON = 1e-6
#: Rays traced at once: bounds memory (a few hundred MB at most) without slowing numpy down.
CHUNK = 1 << 17

Texture = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (u, v) in metres -> (N, 3) albedo in [0, 1]


@dataclass(frozen=True)
class Render:
    """A rendered view: RGB uint8 (H, W, 3), depth float32 (H, W) in metres (NaN = sky), intrinsics."""

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: dict


@dataclass(frozen=True)
class Camera:
    """A pinhole camera at `position` (world: x right, y up, z forward), turned by yaw and tilted down by pitch."""

    position: tuple
    yaw: float = 0.0
    pitch: float = 0.0
    fov: float = 70.0  # horizontal field of view, degrees

    def intrinsics(self, width: int, height: int) -> dict:
        focal = (width / 2) / np.tan(np.radians(self.fov) / 2)
        return {"fx": focal, "fy": focal, "cx": (width - 1) / 2, "cy": (height - 1) / 2}

    def rotation(self) -> np.ndarray:
        """Camera axes (x right, y down, z forward) to world axes."""
        yaw, pitch = np.radians(self.yaw), np.radians(self.pitch)
        turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        tilt = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
        return turn @ tilt @ np.diag([1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Light:
    """A point light (`position`) or a sun (`direction`, pointing towards it), plus hemispheric ambient."""

    position: tuple | None = None
    direction: tuple | None = None
    intensity: float = 1.0
    ambient: float = 0.35

    def towards(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors from each point to the light, and the distance to it (inf for a sun)."""
        if self.direction is not None:
            unit = np.asarray(self.direction, float) / np.linalg.norm(self.direction)
            return np.broadcast_to(unit, points.shape), np.full(len(points), np.inf)
        offset = np.asarray(self.position, float) - points
        distance = np.linalg.norm(offset, axis=1)
        return offset / distance[:, None], distance


@dataclass(frozen=True)
class World:
    camera: Camera
    primitives: tuple
    light: Light
    sky: Callable[[np.ndarray], np.ndarray] | None = None  # unit directions -> colours; None: black
    fog: float | None = None  # distance (m) at which 63% of a surface's colour gives way to the horizon


def render(world: World, width: int, height: int, supersample: int = 2) -> Render:
    """Ray-cast the world: exact depth through pixel centres, RGB averaged over supersample^2 rays per pixel."""
    intrinsics = world.camera.intrinsics(width, height)
    rows, cols = np.divmod(np.arange(width * height), width)
    depth = np.empty(width * height, np.float32)
    colour = np.zeros((width * height, 3))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for start in range(0, width * height, CHUNK):
        rows_, cols_ = rows[start:start + CHUNK], cols[start:start + CHUNK]
        origins, directions = _rays(world.camera, intrinsics, cols_, rows_)
        t, _ = _nearest(world.primitives, origins, directions)
        depth[start:start + CHUNK] = np.where(np.isfinite(t), t, np.nan)
        for dy in offsets:
            for dx in offsets:
                origins, directions = _rays(world.camera, intrinsics, cols_ + dx, rows_ + dy)
                colour[start:start + CHUNK] += _shade(world, origins, directions)
    rgb = np.round(np.clip(colour / supersample ** 2, 0, 1) * 255).astype(np.uint8)
    return Render(rgb.reshape(height, width, 3), depth.reshape(height, width), intrinsics)


def _rays(camera: Camera, intrinsics: dict, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rays whose camera-frame direction has z = 1, so the hit distance t is the depth."""
    local = np.stack([(u - intrinsics["cx"]) / intrinsics["fx"], (v - intrinsics["cy"]) / intrinsics["fy"],
                      np.ones(len(u))], axis=1)
    directions = local @ camera.rotation().T
    return np.asarray(camera.position, float)[None, :], directions


def _nearest(primitives, origins, directions) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the first surface along each ray (inf: none) and the index of that primitive."""
    best, index = np.full(len(directions), np.inf), np.zeros(len(directions), np.intp)
    for k, primitive in enumerate(primitives):
        t = primitive.hit(origins, directions)
        closer = t < best
        best = np.where(closer, t, best)
        index[closer] = k
    return best, index


def _shade(world: World, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Albedo x (hemispheric ambient + shadowed Lambert), then fog; sky where nothing is hit."""
    t, index = _nearest(world.primitives, origins, directions)
    hit = np.isfinite(t)
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    colour = world.sky(unit) if world.sky is not None else np.zeros_like(directions)
    points = np.broadcast_to(origins, directions.shape)[hit] + t[hit, None] * directions[hit]
    normals, albedo = np.empty_like(points), np.empty_like(points)
    for k, primitive in enumerate(world.primitives):
        chosen = index[hit] == k
        if chosen.any():
            normals[chosen], u, v = primitive.surface(points[chosen], directions[hit][chosen])
            albedo[chosen] = primitive.texture(u, v)
    to_light, distance = world.light.towards(points)
    lambert = np.clip(np.einsum("ij,ij->i", normals, to_light), 0, None)
    blocker, _ = _nearest(world.primitives, points + normals * 1e-4, to_light)
    lit = (blocker >= distance) & (lambert > 0)
    ambient = world.light.ambient * (0.75 + 0.25 * normals[:, 1])
    shaded = albedo * (ambient + world.light.intensity * lambert * lit)[:, None]
    if world.fog is not None and world.sky is not None:
        horizon = world.sky(np.array([[0.0, 0.0, 1.0]]))
        keep = np.exp(-t[hit] / world.fog)[:, None]
        shaded = shaded * keep + horizon * (1 - keep)
    colour[hit] = shaded
    return colour


# --- primitives --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Plane:
    """An infinite plane, or the rectangle `extent` = (u0, u1, v0, v1) of it around `point`."""

    point: tuple
    normal: tuple
    u_axis: tuple
    texture: Texture
    extent: tuple | None = None

    def hit(self, origins, directions):
        normal = np.asarray(self.normal, float)
        denominator = directions @ normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((np.asarray(self.point, float) - origins) @ normal) / denominator
        t = np.where(np.isfinite(t) & (t > EPSILON), t, np.inf)
        if self.extent is not None:
            finite = np.isfinite(t)
            u, v = self._uv(np.broadcast_to(origins, directions.shape)[finite] + t[finite, None] * directions[finite])
            u0, u1, v0, v1 = self.extent
            inside = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
            t[np.flatnonzero(finite)[~inside]] = np.inf
        return t

    def surface(self, points, directions):
        normal = np.asarray(self.normal, float)
        facing = np.where((directions @ normal)[:, None] > 0, -normal, normal)
        return (facing, *self._uv(points))

    def _uv(self, points):
        u_axis = np.asarray(self.u_axis, float)
        v_axis = np.cross(u_axis, np.asarray(self.normal, float))
        relative = points - np.asarray(self.point, float)
        return relative @ u_axis, relative @ v_axis


@dataclass(frozen=True, eq=False)
class Box:
    """A box of `size` centred at `center`, turned by `yaw` degrees about the vertical axis."""

    center: tuple
    size: tuple
    texture: Texture
    yaw: float = 0.0

    def _frame(self):
        angle = np.radians(self.yaw)
        return np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])

    def hit(self, origins, directions):
        """Slab test, only for rays that pass the box's bounding sphere (most rays miss most boxes)."""
        half, center = np.asarray(self.size, float) / 2, np.asarray(self.center, float)
        offset = center - origins
        if len(offset) == 1:  # camera rays share one origin: a matrix-vector product suffices
            along, distance2 = directions @ offset[0], offset[0] @ offset[0]
        else:
            along, distance2 = np.einsum("ij,ij->i", directions, offset), np.einsum("ij,ij->i", offset, offset)
        length2 = np.einsum("ij,ij->i", directions, directions)
        apart2 = distance2 * length2 - along * along
        candidates = np.flatnonzero(apart2 <= half @ half * length2)
        t = np.full(len(directions), np.inf)
        if candidates.size:
            origins = origins if len(origins) == 1 else origins[candidates]
            t[candidates] = self._slab(origins - center, directions[candidates], half)
        return t

    def _slab(self, origins, directions, half):
        frame = self._frame()
        local_origin, local_direction = (origins @ frame, directions @ frame) if self.yaw else (origins, directions)
        near, far = np.full(len(directions), -np.inf), np.full(len(directions), np.inf)
        for axis in range(3):  # one axis at a time: numpy reductions over a length-3 axis are slow
            step = local_direction[:, axis]
            inverse = 1.0 / np.where(step == 0, 1e-30, step)
            t1 = (-half[axis] - local_origin[:, axis]) * inverse
            t2 = (half[axis] - local_origin[:, axis]) * inverse
            near, far = np.maximum(near, np.minimum(t1, t2)), np.minimum(far, np.maximum(t1, t2))
        return np.where((near <= far) & (near > EPSILON), near, np.inf)

    def surface(self, points, directions):
        frame, half = self._frame(), np.asarray(self.size, float) / 2
        local = (points - np.asarray(self.center, float)) @ frame
        axis = np.argmax(np.abs(local) / half, axis=1)
        sign = np.sign(local[np.arange(len(local)), axis])
        normal = np.zeros_like(local)
        normal[np.arange(len(local)), axis] = sign
        others = np.array([[2, 1], [0, 2], [0, 1]])[axis]  # face coordinates: (z, y), (x, z), (x, y)
        rows, corner = np.arange(len(local)), local + half  # from the box's lowest corner: v = height on walls
        face_offset = (2 * axis + (sign > 0)) * 7.31  # each face shows a different part of the texture
        return normal @ frame.T, corner[rows, others[:, 0]] + face_offset, corner[rows, others[:, 1]]


@dataclass(frozen=True, eq=False)
class Sphere:
    center: tuple
    radius: float
    texture: Texture

    def hit(self, origins, directions):
        offset = origins - np.asarray(self.center, float)
        a = np.einsum("ij,ij->i", directions, directions)
        b = np.einsum("ij,ij->i", np.broadcast_to(offset, directions.shape), directions)
        c = np.einsum("ij,ij->i", offset, offset) - self.radius ** 2
        disc = b * b - a * c
        t = (-b - np.sqrt(np.clip(disc, 0, None))) / a
        return np.where((disc >= 0) & (t > EPSILON), t, np.inf)

    def surface(self, points, directions):
        normal = (points - np.asarray(self.center, float)) / self.radius
        u = np.arctan2(normal[:, 0], normal[:, 2]) * self.radius
        v = np.arcsin(np.clip(normal[:, 1], -1, 1)) * self.radius
        return normal, u, v


# --- textures ----------------------------------------------------------------------------------

class Noise:
    """Seeded 2-D value noise and its fractal sum (fbm): never periodic within a scene, exactly replayable."""

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self._perm = rng.permutation(256)
        self._values = rng.random(256)

    def cell(self, xi: np.ndarray, yi: np.ndarray) -> np.ndarray:
        """A uniform random number in [0, 1) per integer cell (xi, yi)."""
        return self._values[self._perm[(self._perm[xi & 255] + yi) & 255]]

    def value(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x0, y0 = np.floor(x), np.floor(y)
        tx, ty = x - x0, y - y0
        tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
        xi, yi = x0.astype(np.int64), y0.astype(np.int64)
        top = self.cell(xi, yi) * (1 - tx) + self.cell(xi + 1, yi) * tx
        bottom = self.cell(xi, yi + 1) * (1 - tx) + self.cell(xi + 1, yi + 1) * tx
        return top * (1 - ty) + bottom * ty

    def fbm(self, x: np.ndarray, y: np.ndarray, octaves: int = 5) -> np.ndarray:
        total, norm = 0.0, 0.0
        for octave in range(octaves):
            scale, weight = 2.0 ** octave, 0.5 ** octave
            total = total + weight * self.value(x * scale + 17.3 * octave, y * scale - 29.1 * octave)
            norm += weight
        return total / norm


def _mix(a, b, amount):
    return np.asarray(a, float) * (1 - amount[:, None]) + np.asarray(b, float) * amount[:, None]


def painted(seed: int, colour, other, scale: float = 1.2) -> Texture:
    """Paint or plaster: blotchy mix of two colours with mid and fine grain."""
    noise = Noise(seed)

    def texture(u, v):
        base = _mix(colour, other, noise.fbm(u * scale, v * scale))
        grain = 0.86 + 0.22 * noise.fbm(u * 9 + 40, v * 9) + 0.06 * (noise.value(u * 70, v * 70) - 0.5)
        return base * grain[:, None]

    return texture


def wood(seed: int, light, dark, plank: float = 0.16, length: float = 1.3) -> Texture:
    """Staggered planks along u with per-plank tint, warped grain and dark joints."""
    noise = Noise(seed)

    def texture(u, v):
        row = np.floor(v / plank)
        shifted = u + noise.cell(row.astype(np.int64), np.zeros_like(row, np.int64)) * length
        column = np.floor(shifted / length)
        tint = noise.cell(row.astype(np.int64) + 7, column.astype(np.int64))
        grain = 0.5 + 0.5 * np.sin((v * 90 + 6 * noise.fbm(shifted * 1.5, v * 12 + row * 3.1)) + tint * 9)
        colour = _mix(light, dark, 0.25 * tint + 0.45 * grain * noise.fbm(shifted * 4, v * 30 + 5, 3))
        joint = (np.mod(v, plank) < 0.005) | (np.mod(shifted, length) < 0.006)
        return colour * np.where(joint, 0.45, 1.0)[:, None]

    return texture


def bricks(seed: int, brick=(0.62, 0.30, 0.22), mortar=(0.72, 0.70, 0.66)) -> Texture:
    """Running-bond brickwork: per-brick colour, chipped mortar lines, surface noise."""
    noise = Noise(seed)

    def texture(u, v):
        course = np.floor(v / 0.075)
        shifted = u + 0.11 * np.mod(course, 2)
        index = np.floor(shifted / 0.22)
        tint = noise.cell(index.astype(np.int64), course.astype(np.int64))
        colour = np.asarray(brick) * (0.7 + 0.5 * tint[:, None]) * (0.85 + 0.3 * noise.fbm(u * 20, v * 20))[:, None]
        wobble = 0.003 * noise.value(u * 50, v * 50)
        is_mortar = (np.mod(v, 0.075) < 0.010 + wobble) | (np.mod(shifted, 0.22) < 0.010 + wobble)
        return np.where(is_mortar[:, None], np.asarray(mortar) * (0.8 + 0.3 * noise.value(u * 90, v * 90))[:, None],
                        colour)

    return texture


def stripes(seed: int, colours, width: float = 0.05) -> Texture:
    """Bands of colours along u, warped by noise (fabric, book spines, printed boxes)."""
    noise = Noise(seed)
    palette = np.asarray(colours, float)

    def texture(u, v):
        warped = u + 0.4 * width * noise.fbm(v * 6, u * 3)
        band = np.floor(warped / width).astype(np.int64)
        choice = (noise.cell(band, np.zeros_like(band)) * len(palette)).astype(np.int64)
        return palette[choice] * (0.8 + 0.35 * noise.fbm(u * 25, v * 25, 4))[:, None]

    return texture


def street_ground(seed: int, road_half_width: float = 5.0) -> Texture:
    """Asphalt with a dashed centre line and curbs, paving slabs on the sidewalks (u = x, v = z)."""
    noise, slabs = Noise(seed), Noise(seed + 1)

    def texture(u, v):
        asphalt = np.asarray([0.24, 0.24, 0.26]) * (0.7 + 0.6 * noise.fbm(u * 3, v * 3))[:, None]
        asphalt = asphalt * (0.85 + 0.3 * noise.value(u * 60, v * 60))[:, None]
        dash = (np.abs(u) < 0.08) & (np.mod(v, 6.0) < 3.0)
        paint = np.asarray([0.85, 0.82, 0.70]) * (0.75 + 0.3 * noise.fbm(u * 30, v * 30, 3))[:, None]
        ground = np.where(dash[:, None], paint, asphalt)
        slab_u, slab_v = np.floor(u / 0.6).astype(np.int64), np.floor(v / 0.6).astype(np.int64)
        paving = np.asarray([0.62, 0.60, 0.56]) * (0.8 + 0.3 * slabs.cell(slab_u, slab_v))[:, None]
        paving = paving * (0.85 + 0.25 * noise.fbm(u * 12, v * 12, 3))[:, None]
        joints = (np.mod(u, 0.6) < 0.015) | (np.mod(v, 0.6) < 0.015)
        paving = np.where(joints[:, None], paving * 0.6, paving)
        curb = np.abs(np.abs(u) - road_half_width) < 0.15
        ground = np.where((np.abs(u) > road_half_width)[:, None], paving, ground)
        return np.where(curb[:, None], np.asarray([0.78, 0.77, 0.74]) * paving / 0.6, ground)

    return texture


def facade(seed: int, wall, glass=(0.20, 0.27, 0.36), storey: float = 3.2, bay: float = 2.4) -> Texture:
    """A building face: rendered wall with a grid of windows, some lit, each reflecting differently."""
    noise = Noise(seed)

    def texture(u, v):
        base = np.asarray(wall) * (0.8 + 0.35 * noise.fbm(u * 0.8, v * 0.8))[:, None]
        base = base * (0.9 + 0.15 * noise.value(u * 25, v * 25))[:, None]
        floor_, column = np.floor(v / storey), np.floor(u / bay)
        fu, fv = np.mod(u, bay) / bay, np.mod(v, storey) / storey
        window = (fu > 0.22) & (fu < 0.78) & (fv > 0.3) & (fv < 0.85) & (v > 1.0)
        cell = noise.cell(column.astype(np.int64), floor_.astype(np.int64))
        lit = np.where(cell > 0.8, 1.9, 1.0)
        pane = np.asarray(glass) * (lit * (0.6 + 0.8 * noise.fbm(u * 2 + cell * 9, v * 2, 3)))[:, None]
        frame = window & ((np.abs(fu - 0.5) < 0.015) | (np.abs(fv - 0.6) < 0.012))
        out = np.where(window[:, None], pane, base)
        return np.where(frame[:, None], np.asarray(wall) * 0.5, out)

    return texture


def globe(seed: int) -> Texture:
    """Land and sea from thresholded noise (for a sphere: u = longitude, v = latitude, in metres)."""
    noise = Noise(seed)

    def texture(u, v):
        height = noise.fbm(u * 12, v * 12)
        land = _mix((0.35, 0.55, 0.25), (0.62, 0.52, 0.34), noise.fbm(u * 30 + 3, v * 30, 3))
        sea = _mix((0.10, 0.25, 0.55), (0.18, 0.40, 0.65), noise.fbm(u * 20 + 9, v * 20, 3))
        return np.where((height > 0.52)[:, None], land, sea)

    return texture


def photo(image: np.ndarray, width: float, height: float) -> Texture:
    """A photo stretched over u in [0, width], v in [0, height] (v up), sampled bilinearly."""
    pixels = np.asarray(image, float) / 255
    rows, cols = pixels.shape[:2]

    def texture(u, v):
        x = np.clip(u / width, 0, 1) * (cols - 1)
        y = np.clip(1 - v / height, 0, 1) * (rows - 1)
        x0, y0 = np.minimum(np.floor(x).astype(np.int64), cols - 2), np.minimum(np.floor(y).astype(np.int64), rows - 2)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        top = pixels[y0, x0] * (1 - fx) + pixels[y0, x0 + 1] * fx
        bottom = pixels[y0 + 1, x0] * (1 - fx) + pixels[y0 + 1, x0 + 1] * fx
        return top * (1 - fy) + bottom * fy

    return texture


def sky(seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Blue gradient by elevation with soft noise clouds projected on a plane high above."""
    noise = Noise(seed)

    def colour(directions):
        up = np.clip(directions[:, 1], 0, 1)
        base = _mix((0.80, 0.86, 0.93), (0.33, 0.52, 0.84), up ** 0.6)
        height = np.maximum(directions[:, 1], 0.02)
        cloud = noise.fbm(directions[:, 0] / height * 0.6, directions[:, 2] / height * 0.6)
        cover = np.clip((cloud - 0.45) * 3, 0, 1) * np.clip(up * 8, 0, 1)
        return _mix(base, (0.97, 0.97, 0.98), cover)

    return colour


# --- the shipped scenes ------------------------------------------------------------------------

def _seeds(seed: int):
    """An endless, deterministic supply of texture seeds for one scene."""
    rng = np.random.default_rng(seed)
    while True:
        yield int(rng.integers(2 ** 31))


def room(posters: dict[str, np.ndarray], seed: int = 11) -> World:
    """A living room: brick, painted walls with two framed photos, wooden floor, boxes, a ball, furniture."""
    s = _seeds(seed)
    walls = (
        Plane((0, 0, 0), (0, 1, 0), (1, 0, 0), wood(next(s), (0.66, 0.47, 0.30), (0.36, 0.22, 0.12))),
        Plane((0, 2.9, 0), (0, -1, 0), (1, 0, 0), painted(next(s), (0.93, 0.92, 0.88), (0.85, 0.84, 0.80))),
        Plane((0, 0, 7.2), (0, 0, -1), (1, 0, 0), painted(next(s), (0.86, 0.78, 0.62), (0.74, 0.62, 0.48))),
        Plane((-2.8, 0, 0), (1, 0, 0), (0, 0, 1), bricks(next(s))),
        Plane((3.0, 0, 0), (-1, 0, 0), (0, 0, -1), painted(next(s), (0.62, 0.74, 0.72), (0.48, 0.60, 0.62))),
        Plane((0, 0, -0.6), (0, 0, 1), (-1, 0, 0), painted(next(s), (0.80, 0.80, 0.76), (0.70, 0.70, 0.66))),
    )
    frame_wood = wood(next(s), (0.30, 0.20, 0.12), (0.16, 0.10, 0.06), plank=0.05)
    decor = (
        Box((-0.45, 1.70, 7.18), (1.62, 1.12, 0.04), frame_wood),
        Plane((-1.2, 1.2, 7.155), (0, 0, -1), (1, 0, 0), photo(posters["chelsea"], 1.5, 1.0), (0, 1.5, 0, 1.0)),
        Box((1.50, 1.65, 7.18), (0.82, 0.97, 0.04), frame_wood),
        Plane((1.15, 1.225, 7.155), (0, 0, -1), (1, 0, 0), photo(posters["grace_hopper"], 0.7, 0.85), (0, 0.7, 0, 0.85)),
    )
    cardboard = painted(next(s), (0.72, 0.56, 0.36), (0.58, 0.42, 0.25), scale=4)
    furniture = (
        Box((-1.3, 0.30, 2.6), (0.6, 0.6, 0.6), cardboard, yaw=20),
        Box((-1.25, 0.80, 2.65), (0.4, 0.4, 0.4), painted(next(s), (0.80, 0.68, 0.50), (0.62, 0.46, 0.30), 5), yaw=-12),
        Sphere((0.65, 0.35, 2.3), 0.35, stripes(next(s), [(0.85, 0.2, 0.15), (0.95, 0.85, 0.3), (0.2, 0.35, 0.8)], 0.09)),
        Box((2.45, 0.90, 4.4), (0.6, 1.8, 1.0), wood(next(s), (0.45, 0.30, 0.18), (0.25, 0.15, 0.08), plank=0.3)),
        Box((0.2, 0.22, 4.4), (1.4, 0.44, 0.8), painted(next(s), (0.22, 0.32, 0.55), (0.15, 0.22, 0.40), 3), yaw=8),
        Sphere((0.5, 0.59, 4.3), 0.15, painted(next(s), (0.95, 0.55, 0.15), (0.85, 0.35, 0.10), 20)),
        Box((-2.3, 1.0, 6.2), (0.4, 2.0, 1.2), stripes(next(s), [(0.55, 0.12, 0.12), (0.15, 0.35, 0.25),
                                                                (0.85, 0.80, 0.65), (0.20, 0.20, 0.35)], 0.045)),
    )
    return World(Camera((0.4, 1.55, 0.3), yaw=-6, pitch=14, fov=72), walls + decor + furniture,
                 Light(position=(0.8, 2.5, 3.6), intensity=0.9, ambient=0.38))


def street(posters: dict[str, np.ndarray], seed: int = 23) -> World:
    """A street of buildings with windows, parked cars, lamp posts, a billboard and a ball; open sky."""
    s = _seeds(seed)
    rng = np.random.default_rng(seed)
    primitives = [Plane((0, 0, 0), (0, 1, 0), (1, 0, 0), street_ground(next(s)))]
    walls = [(0.80, 0.74, 0.64), (0.62, 0.36, 0.28), (0.85, 0.83, 0.78), (0.55, 0.58, 0.62), (0.78, 0.62, 0.42)]
    for side in (-1, 1):
        z = 4.0
        while z < 45:
            length, height, setback = rng.uniform(8, 16), rng.uniform(7, 24), rng.uniform(0, 1.5)
            primitives.append(Box((side * (7 + setback + 5), height / 2, z + length / 2), (10, height, length),
                                  facade(next(s), walls[int(rng.integers(len(walls)))])))
            z += length + rng.uniform(0.5, 4)
    for x, z, body in ((-2.2, 12, (0.70, 0.12, 0.10)), (2.4, 24, (0.15, 0.25, 0.55)), (-2.0, 38, (0.88, 0.88, 0.86))):
        paint = painted(next(s), body, np.asarray(body) * 0.8, scale=2)
        primitives.append(Box((x, 0.65, z), (1.8, 0.9, 4.3), paint, yaw=float(rng.uniform(-4, 4))))
        primitives.append(Box((x, 1.35, z + 0.2), (1.6, 0.55, 2.2), painted(next(s), (0.15, 0.18, 0.22),
                                                                             (0.30, 0.35, 0.40), 3)))
    pole = painted(next(s), (0.25, 0.27, 0.25), (0.35, 0.36, 0.33), 8)
    for z in range(8, 60, 12):
        for x in (-5.6, 5.6):
            primitives.append(Box((x, 2.5, float(z)), (0.15, 5.0, 0.15), pole))
    primitives.append(Box((-5.6, 3.1, 19.9), (1.3, 1.3, 0.08), pole))
    primitives.append(Plane((-6.2, 2.5, 19.855), (0, 0, -1), (1, 0, 0), photo(posters["astronaut"], 1.2, 1.2),
                            (0, 1.2, 0, 1.2)))
    primitives.append(Box((0.0, 14.0, 70.0), (60.0, 28.0, 10.0), facade(next(s), walls[0])))
    primitives.append(Sphere((-5.8, 0.5, 16.0), 0.5, stripes(next(s), [(0.9, 0.9, 0.9), (0.1, 0.1, 0.1)], 0.12)))
    return World(Camera((0.8, 1.7, 0.0), yaw=5, pitch=2, fov=78), tuple(primitives),
                 Light(direction=(-0.5, 0.8, -0.35), intensity=0.85, ambient=0.5), sky=sky(next(s)), fog=250.0)


def tabletop(posters: dict[str, np.ndarray], seed: int = 37) -> World:
    """A desk against a wall: books, balls, a globe, a cereal box and blocks, seen from above at arm's length."""
    s = _seeds(seed)
    primitives = (
        Plane((0, 0, 0), (0, 1, 0), (1, 0, 0), wood(next(s), (0.78, 0.60, 0.40), (0.52, 0.36, 0.22), plank=0.25),
              (-1.0, 1.0, -0.3, 1.1)),
        Plane((0, -0.74, 0), (0, 1, 0), (1, 0, 0), painted(next(s), (0.45, 0.45, 0.50), (0.30, 0.30, 0.34), 3)),
        Plane((0, 0, 1.1), (0, 0, -1), (1, 0, 0), painted(next(s), (0.90, 0.88, 0.80), (0.78, 0.80, 0.74))),
        Plane((-0.55, 0.08, 1.095), (0, 0, -1), (1, 0, 0), photo(posters["rocket"], 0.42, 0.28), (0, 0.42, 0, 0.28)),
        Box((-0.30, 0.0175, 0.45), (0.24, 0.035, 0.17), stripes(next(s), [(0.6, 0.1, 0.1), (0.9, 0.85, 0.75)], 0.02),
            yaw=10),
        Box((-0.29, 0.0525, 0.46), (0.21, 0.035, 0.15), painted(next(s), (0.10, 0.30, 0.50), (0.20, 0.45, 0.60), 20),
            yaw=-6),
        Box((-0.31, 0.0850, 0.44), (0.18, 0.030, 0.13), painted(next(s), (0.85, 0.75, 0.20), (0.70, 0.50, 0.10), 20),
            yaw=25),
        Sphere((0.12, 0.07, 0.35), 0.07, stripes(next(s), [(0.95, 0.45, 0.10), (0.15, 0.15, 0.15)], 0.02)),
        Sphere((0.30, 0.035, 0.22), 0.035, painted(next(s), (0.80, 0.90, 0.25), (0.65, 0.75, 0.15), 60)),
        Sphere((0.36, 0.13, 0.85), 0.13, globe(next(s))),
        Box((-0.05, 0.14, 0.92), (0.19, 0.28, 0.07), stripes(next(s), [(0.90, 0.30, 0.10), (0.95, 0.80, 0.20),
                                                                       (0.20, 0.50, 0.80)], 0.03), yaw=12),
        Box((0.05, 0.04, 0.16), (0.08, 0.08, 0.08), painted(next(s), (0.85, 0.20, 0.45), (0.60, 0.10, 0.30), 30), yaw=35),
        Box((-0.28, 0.03, 0.10), (0.15, 0.06, 0.10), wood(next(s), (0.85, 0.70, 0.45), (0.60, 0.45, 0.25), 0.02, 0.1),
            yaw=-20),
    )
    return World(Camera((0.0, 0.52, -0.35), yaw=4, pitch=26, fov=62), primitives,
                 Light(position=(-0.4, 1.0, 0.2), intensity=1.0, ambient=0.35))
