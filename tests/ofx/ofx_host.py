"""A minimal OpenFX host for the tests, in Python over ctypes: it loads a plug-in binary, hands it the
property, image-effect, parameter and message suites, describes it, and renders float RGBA frames laid out
the way hosts do (bottom-up rows, padded rows, or negative row bytes).

Handles are small integers the host looks up; the plug-in never dereferences them. Written from the
OpenFX specification for this project's tests only (x86-64 SysV calling convention for the variadic
parameter and message functions)."""

from __future__ import annotations

import ctypes as C
import itertools
import sys
from dataclasses import dataclass, field

import numpy as np

Status = C.c_int
OK, FAILED, BAD_HANDLE, BAD_INDEX, REPLY_DEFAULT, UNKNOWN = 0, 1, 9, 10, 14, 3
P = C.c_void_p

# property suite
F_SET_PTR = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, P)
F_SET_STR = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.c_char_p)
F_SET_DBL = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.c_double)
F_SET_INT = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.c_int)
F_SET_N = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, P)
F_GET_PTR = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(P))
F_GET_STR = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(C.c_char_p))
F_GET_DBL = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(C.c_double))
F_GET_INT = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(C.c_int))
F_GET_PTR_N = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(P))
F_GET_STR_N = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(C.c_char_p))
F_GET_DBL_N = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(C.c_double))
F_GET_INT_N = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_int, C.POINTER(C.c_int))
F_RESET = C.CFUNCTYPE(Status, P, C.c_char_p)
F_DIM = C.CFUNCTYPE(Status, P, C.c_char_p, C.POINTER(C.c_int))


class PropertySuite(C.Structure):
    _fields_ = [
        ("propSetPointer", F_SET_PTR), ("propSetString", F_SET_STR), ("propSetDouble", F_SET_DBL),
        ("propSetInt", F_SET_INT), ("propSetPointerN", F_SET_N), ("propSetStringN", F_SET_N),
        ("propSetDoubleN", F_SET_N), ("propSetIntN", F_SET_N), ("propGetPointer", F_GET_PTR),
        ("propGetString", F_GET_STR), ("propGetDouble", F_GET_DBL), ("propGetInt", F_GET_INT),
        ("propGetPointerN", F_GET_PTR_N), ("propGetStringN", F_GET_STR_N), ("propGetDoubleN", F_GET_DBL_N),
        ("propGetIntN", F_GET_INT_N), ("propReset", F_RESET), ("propGetDimension", F_DIM),
    ]  # fmt: skip


class RectD(C.Structure):
    _fields_ = [("x1", C.c_double), ("y1", C.c_double), ("x2", C.c_double), ("y2", C.c_double)]


F_GET_SET = C.CFUNCTYPE(Status, P, C.POINTER(P))
F_CLIP_DEFINE = C.CFUNCTYPE(Status, P, C.c_char_p, C.POINTER(P))
F_CLIP_HANDLE = C.CFUNCTYPE(Status, P, C.c_char_p, C.POINTER(P), C.POINTER(P))
F_CLIP_IMAGE = C.CFUNCTYPE(Status, P, C.c_double, C.POINTER(RectD), C.POINTER(P))
F_RELEASE = C.CFUNCTYPE(Status, P)
F_ROD = C.CFUNCTYPE(Status, P, C.c_double, C.POINTER(RectD))
F_ABORT = C.CFUNCTYPE(C.c_int, P)


class ImageEffectSuite(C.Structure):
    _fields_ = [
        ("getPropertySet", F_GET_SET), ("getParamSet", F_GET_SET), ("clipDefine", F_CLIP_DEFINE),
        ("clipGetHandle", F_CLIP_HANDLE), ("clipGetPropertySet", F_GET_SET), ("clipGetImage", F_CLIP_IMAGE),
        ("clipReleaseImage", F_RELEASE), ("clipGetRegionOfDefinition", F_ROD), ("abort", F_ABORT),
        ("imageMemoryAlloc", P), ("imageMemoryFree", P), ("imageMemoryLock", P), ("imageMemoryUnlock", P),
    ]  # fmt: skip


F_PARAM_DEFINE = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_char_p, C.POINTER(P))
F_PARAM_HANDLE = C.CFUNCTYPE(Status, P, C.c_char_p, C.POINTER(P), C.POINTER(P))
F_PARAM_VALUE = C.CFUNCTYPE(Status, P, P)  # variadic: one pointer
F_PARAM_VALUE_AT = C.CFUNCTYPE(Status, P, C.c_double, P)  # time, then one pointer


class ParameterSuite(C.Structure):
    _fields_ = [
        ("paramDefine", F_PARAM_DEFINE), ("paramGetHandle", F_PARAM_HANDLE),
        ("paramSetGetPropertySet", F_GET_SET), ("paramGetPropertySet", F_GET_SET),
        ("paramGetValue", F_PARAM_VALUE), ("paramGetValueAtTime", F_PARAM_VALUE_AT),
    ] + [(f"unused{i}", P) for i in range(16)]  # fmt: skip


F_MESSAGE = C.CFUNCTYPE(Status, P, C.c_char_p, C.c_char_p, C.c_char_p, C.c_char_p)  # format "%s", text
F_CLEAR = C.CFUNCTYPE(Status, P)


class MessageSuite(C.Structure):
    _fields_ = [
        ("message", F_MESSAGE),
        ("setPersistentMessage", F_MESSAGE),
        ("clearPersistentMessage", F_CLEAR),
    ]


F_FETCH = C.CFUNCTYPE(P, P, C.c_char_p, C.c_int)


class Host(C.Structure):
    _fields_ = [("host", P), ("fetchSuite", F_FETCH)]


F_SET_HOST = C.CFUNCTYPE(None, C.POINTER(Host))
F_MAIN = C.CFUNCTYPE(Status, C.c_char_p, P, P, P)


class Plugin(C.Structure):
    _fields_ = [
        ("pluginApi", C.c_char_p), ("apiVersion", C.c_int), ("pluginIdentifier", C.c_char_p),
        ("pluginVersionMajor", C.c_uint), ("pluginVersionMinor", C.c_uint), ("setHost", F_SET_HOST),
        ("mainEntry", F_MAIN),
    ]  # fmt: skip


@dataclass
class Image:
    """An image the host lends the plug-in: (H, W, 4) float32 top-down pixels in `memory`, laid out as
    `layout`: 'bottom-up' (rows upward in memory), 'padded' (bottom-up with 64 spare bytes a row) or
    'negative' (rows downward in memory, negative row bytes)."""

    width: int
    height: int
    layout: str = "bottom-up"
    memory: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        pad = 16 if self.layout == "padded" else 0
        self.stride_floats = self.width * 4 + pad
        self.memory = np.zeros((self.height, self.stride_floats), np.float32)

    def _rows(self) -> np.ndarray:
        """(H, W, 4) view in OFX order: row 0 is the bottom of the picture."""
        view = self.memory[:, : self.width * 4].reshape(self.height, self.width, 4)
        return view if self.layout != "negative" else view[::-1]

    def set_top_down(self, rgba: np.ndarray) -> None:
        self._rows()[:] = np.asarray(rgba, np.float32)[::-1]

    def top_down(self) -> np.ndarray:
        return self._rows()[::-1].copy()

    def data_and_row_bytes(self) -> tuple[int, int]:
        base = self.memory.ctypes.data
        stride = self.stride_floats * 4
        if self.layout == "negative":
            return base + (self.height - 1) * stride, -stride
        return base, stride


class OfxTestHost:
    """Loads a plug-in and drives it: describe, describe in context, render."""

    def __init__(self, binary: str) -> None:
        self._ids = itertools.count(0x1000)
        self.objects: dict[int, object] = {}
        self.keep: list = []
        self.messages: list[tuple[str, str]] = []
        self.persistent: str | None = None
        self.aborted = False
        self.lib = C.CDLL(binary)
        self.lib.OfxGetNumberOfPlugins.restype = C.c_int
        self.lib.OfxGetPlugin.restype = C.POINTER(Plugin)
        self.lib.OfxGetPlugin.argtypes = [C.c_int]
        assert self.lib.OfxGetNumberOfPlugins() == 1
        self.plugin = self.lib.OfxGetPlugin(0).contents
        self.host_props = self.new_props({"OfxPropName": ["facegraft.testhost"]})
        self._suites = {
            (b"OfxPropertySuite", 1): self._property_suite(),
            (b"OfxImageEffectSuite", 1): self._effect_suite(),
            (b"OfxParameterSuite", 1): self._parameter_suite(),
            (b"OfxMessageSuite", 2): self._message_suite(),
        }
        self.fetch = F_FETCH(self._fetch)
        self.host = Host(self.host_props, self.fetch)
        self.plugin.setHost(C.byref(self.host))
        self.effect_props = self.new_props({})
        self.params: dict[str, dict] = {}
        self.param_values: dict[str, object] = {}
        self.clips: dict[str, int] = {}
        self.images: dict[int, Image] = {}
        self.effect = self.new({"kind": "effect"})
        self.param_set = self.new({"kind": "params"})

    # -- handles ------------------------------------------------------------------------------------------
    def new(self, obj) -> int:
        h = next(self._ids)
        self.objects[h] = obj
        return h

    def new_props(self, values: dict) -> int:
        return self.new({"kind": "props", "values": {k: list(v) for k, v in values.items()}})

    def values(self, handle) -> dict:
        obj = self.objects.get(handle or 0)
        if not isinstance(obj, dict) or obj.get("kind") != "props":
            raise KeyError("not a property set")
        return obj["values"]

    def _fetch(self, host, name, version):
        suite = self._suites.get((name, version))
        return C.addressof(suite) if suite is not None else None

    # -- suites -------------------------------------------------------------------------------------------
    def _property_suite(self) -> PropertySuite:
        host = self

        def setter(convert):
            def f(p, name, i, value):
                try:
                    vals = host.values(p).setdefault(name.decode(), [])
                except KeyError:
                    return BAD_HANDLE
                while len(vals) <= i:
                    vals.append(None)
                vals[i] = convert(value)
                return OK

            return f

        def write(kind, out, i, v) -> None:
            if kind == "str":
                buf = C.create_string_buffer(str(v).encode())
                host.keep.append(buf)
                C.cast(out, C.POINTER(C.c_void_p))[i] = C.addressof(buf)
            else:
                out[i] = v

        def lookup(p, name, first: int, count: int):
            """(status, values[first:first + count]) of a property."""
            try:
                vals = host.values(p).get(name.decode())
            except KeyError:
                return BAD_HANDLE, []
            if vals is None:
                return UNKNOWN, []
            if first < 0 or len(vals) < first + count:
                return BAD_INDEX, []
            return OK, vals[first : first + count]

        def getter(kind):
            def f(p, name, i, out):
                status, vals = lookup(p, name, i, 1)
                if status == OK:
                    write(kind, out, 0, vals[0])
                return status

            return f

        def getter_n(kind):
            def f(p, name, count, out):
                status, vals = lookup(p, name, 0, count)
                for i, v in enumerate(vals):
                    write(kind, out, i, v)
                return status

            return f

        def dimension(p, name, out):
            try:
                out[0] = len(host.values(p).get(name.decode(), []))
            except KeyError:
                return BAD_HANDLE
            return OK

        def reset(p, name):
            host.values(p).pop(name.decode(), None)
            return OK

        def unsupported(*_):
            return FAILED

        suite = PropertySuite(
            F_SET_PTR(setter(lambda v: v)), F_SET_STR(setter(lambda v: v.decode())), F_SET_DBL(setter(float)),
            F_SET_INT(setter(int)), F_SET_N(unsupported), F_SET_N(unsupported), F_SET_N(unsupported),
            F_SET_N(unsupported), F_GET_PTR(getter("ptr")), F_GET_STR(getter("str")),
            F_GET_DBL(getter("num")), F_GET_INT(getter("num")), F_GET_PTR_N(getter_n("ptr")),
            F_GET_STR_N(getter_n("str")),
            F_GET_DBL_N(getter_n("num")), F_GET_INT_N(getter_n("num")), F_RESET(reset), F_DIM(dimension),
        )  # fmt: skip
        return suite

    def _effect_suite(self) -> ImageEffectSuite:
        host = self

        def get_props(effect, out):
            out[0] = host.effect_props
            return OK

        def get_params(effect, out):
            out[0] = host.param_set
            return OK

        def clip_define(effect, name, out):
            props = host.new_props({})
            host.clips[name.decode()] = props
            out[0] = props
            return OK

        def clip_handle(effect, name, clip, props):
            h = host.clips.get(name.decode())
            if h is None:
                return BAD_HANDLE
            clip[0] = h
            if props:
                props[0] = h
            return OK

        def clip_props(clip, out):
            out[0] = clip
            return OK

        def clip_image(clip, time, region, out):
            image = host.images.get(clip)
            if image is None:
                return FAILED
            data, row_bytes = image.data_and_row_bytes()
            out[0] = host.new_props(
                {
                    "OfxImagePropData": [data],
                    "OfxImagePropBounds": [0, 0, image.width, image.height],
                    "OfxImagePropRowBytes": [row_bytes],
                    "OfxImageEffectPropPixelDepth": ["OfxBitDepthFloat"],
                    "OfxImageEffectPropComponents": ["OfxImageComponentRGBA"],
                }
            )
            return OK

        def release(image):
            host.objects.pop(image, None)
            return OK

        def rod(clip, time, out):
            image = host.images.get(clip)
            out[0] = RectD(0, 0, image.width if image else 0, image.height if image else 0)
            return OK

        def abort(effect):
            return int(host.aborted)

        return ImageEffectSuite(
            F_GET_SET(get_props), F_GET_SET(get_params), F_CLIP_DEFINE(clip_define),
            F_CLIP_HANDLE(clip_handle),
            F_GET_SET(clip_props), F_CLIP_IMAGE(clip_image), F_RELEASE(release), F_ROD(rod), F_ABORT(abort),
        )  # fmt: skip

    def _parameter_suite(self) -> ParameterSuite:
        host = self

        def define(pset, kind, name, out):
            props = host.new_props({})
            host.params[name.decode()] = {"type": kind.decode(), "props": props}
            out[0] = props
            return OK

        def handle(pset, name, param, props):
            p = host.params.get(name.decode())
            if p is None:
                return UNKNOWN
            param[0] = host.new({"kind": "param", "name": name.decode()})
            if props:
                props[0] = p["props"]
            return OK

        def value_at(param, time, out):
            return value(param, out)

        def value(param, out):
            obj = host.objects.get(param)
            if not isinstance(obj, dict) or obj.get("kind") != "param":
                return BAD_HANDLE
            name = obj["name"]
            kind = host.params[name]["type"]
            v = host.param_values.get(name)
            if v is None:
                v = host.values(host.params[name]["props"]).get("OfxParamPropDefault", [None])[0]
            if kind == "OfxParamTypeString":
                buf = C.create_string_buffer(str(v or "").encode())
                host.keep.append(buf)
                C.cast(out, C.POINTER(C.c_void_p))[0] = C.addressof(buf)
            elif kind == "OfxParamTypeDouble":
                C.cast(out, C.POINTER(C.c_double))[0] = float(v or 0.0)
            else:
                C.cast(out, C.POINTER(C.c_int))[0] = int(v or 0)
            return OK

        def set_props(*_):
            return FAILED

        return ParameterSuite(
            F_PARAM_DEFINE(define), F_PARAM_HANDLE(handle), F_GET_SET(set_props), F_GET_SET(set_props),
            F_PARAM_VALUE(value), F_PARAM_VALUE_AT(value_at),
        )  # fmt: skip

    def _message_suite(self) -> MessageSuite:
        host = self

        def message(handle, kind, mid, fmt, text):
            host.messages.append((kind.decode(), (text or b"").decode()))
            return OK

        def persistent(handle, kind, mid, fmt, text):
            host.persistent = (text or b"").decode()
            return OK

        def clear(handle):
            host.persistent = None
            return OK

        return MessageSuite(F_MESSAGE(message), F_MESSAGE(persistent), F_CLEAR(clear))

    # -- actions ------------------------------------------------------------------------------------------
    def action(self, name: str, handle=None, in_args=None) -> int:
        return self.plugin.mainEntry(name.encode(), handle, in_args, None)

    def describe(self) -> None:
        assert self.action("OfxActionLoad") == OK
        assert self.action("OfxActionDescribe", self.effect) == OK
        ctx = self.new_props({"OfxImageEffectPropContext": ["OfxImageEffectContextFilter"]})
        assert self.action("OfxImageEffectActionDescribeInContext", self.effect, ctx) == OK
        self.action("OfxActionCreateInstance", self.effect)

    def render(self, rgba: np.ndarray, time: float, layout: str = "bottom-up", **params) -> np.ndarray:
        """Render one (H, W, 4) top-down frame; returns the Output image top-down."""
        h, w = rgba.shape[:2]
        src, dst = Image(w, h, layout), Image(w, h, layout)
        src.set_top_down(rgba)
        dst.memory[:] = np.nan  # anything the plug-in does not write shows up
        self.images = {self.clips["Source"]: src, self.clips["Output"]: dst}
        self.param_values.update(params)
        args = self.new_props({"OfxPropTime": [float(time)], "OfxImageEffectPropRenderWindow": [0, 0, w, h]})
        status = self.action("OfxImageEffectActionRender", self.effect, args)
        assert status == OK, status
        return dst.top_down()


if __name__ == "__main__":  # describe + N renders (for the sanitizer run): binary, frames.npy, n, params json
    import json

    host = OfxTestHost(sys.argv[1])
    host.describe()
    frame = np.load(sys.argv[2])
    settings = json.loads(sys.argv[4])
    for k in range(int(sys.argv[3])):
        out = host.render(
            frame, settings.pop("time", 1001.0), ("bottom-up", "padded", "negative")[k % 3], **settings
        )
        assert np.isfinite(out).all()
    print(json.dumps({"renders": int(sys.argv[3]), "message": host.persistent}))
