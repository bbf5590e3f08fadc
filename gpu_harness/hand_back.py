"""How the candidate's process hands an output back to the judge: each tensor leaf found in an arena
(written in place) or copied into the call's return region, the tree described as JSON. The judge
rebuilds it from the description (remote.RemoteCandidate.rebuild) and never unpickles what the
candidate sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gpu_harness import guard
from gpu_harness.arena import DTYPES, Arena, ArenaError, align, contiguous_strides
from gpu_harness.check import tensor_leaves

JSON_SCALARS = (bool, int, float, str, type(None))


class Opaque:
    """An output leaf that was neither a tensor nor a plain value: only its type's name came back."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def hand_back(out: Any, ret: Any, arenas: dict[int, Arena], sync: Callable[[], None]) -> dict[str, Any]:
    """Where each output leaf is: in an arena already (written in place), or copied into the
    return region; {"need": bytes} when the region is too small."""
    copies: list[tuple[torch.Tensor, int]] = []
    cursor = [0]
    capacity = ret[2] if ret is not None else 0

    def describe(node: Any) -> dict[str, Any]:
        if isinstance(node, tuple):
            return {"k": "tuple", "items": [describe(x) for x in node]}
        if isinstance(node, list):
            return {"k": "list", "items": [describe(x) for x in node]}
        if isinstance(node, dict):
            return {
                "k": "dict",
                "items": [[k if isinstance(k, (str, int)) else str(k), describe(v)] for k, v in node.items()],
            }
        if isinstance(node, torch.Tensor) and type(node) is not torch.Tensor:
            return {"k": "lazy", "type": f"{type(node).__module__}.{type(node).__qualname__}"}
        if type(node) is torch.Tensor:
            return _describe_tensor(node, ret, copies, cursor, arenas)
        if isinstance(node, JSON_SCALARS):
            return {"k": "value", "v": node}
        return {"k": "other", "type": f"{type(node).__module__}.{type(node).__qualname__}"}

    try:
        doc = describe(out)
        if ret is not None and cursor[0] > capacity:
            return {"need": cursor[0]}
        if ret is not None:
            arena = arenas[int(ret[0])]
            for tensor, offset in copies:
                dst = arena.view(
                    int(ret[1]) + offset,
                    tensor.dtype,
                    tuple(tensor.shape),
                    contiguous_strides(tuple(tensor.shape)),
                )
                dst.copy_(tensor.detach())
            sync()
        return {"out": doc}
    finally:
        # `describe` calls itself, so it and its closure (`copies`, which holds the output's tensors)
        # form a reference cycle that only the cyclic collector frees: on the GPU every handed-back
        # output (6 GB for 19_ReLU) stayed allocated until a collection. Break it here.
        copies.clear()
        describe = None  # noqa: F841


def _describe_tensor(
    t: torch.Tensor, ret: Any, copies: list, cursor: list[int], arenas: dict[int, Arena]
) -> dict[str, Any]:
    base = {"k": "tensor", "dtype": str(t.dtype), "shape": list(t.shape), "device": t.device.type}
    if t.layout != torch.strided or t.is_meta:
        return {"k": "other", "type": f"torch.Tensor with layout {t.layout}"}
    ptr, device_type = t.data_ptr(), t.device.type
    for arena in arenas.values():  # plain numbers: this runs for every arena, for every output
        offset = arena.offset_of(ptr, device_type)
        if offset is not None and t.numel() and min(t.stride()) >= 0:
            span = (1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride()))) * t.element_size()
            if offset + span <= arena.nbytes:
                return {**base, "arena": arena.ident, "offset": offset, "stride": list(t.stride())}
    if ret is None:
        return {**base, "arena": None}
    offset = cursor[0]
    cursor[0] = align(offset + t.numel() * t.element_size())
    copies.append((t, offset))
    return {
        **base,
        "arena": int(ret[0]),
        "offset": int(ret[1]) + offset,
        "stride": list(contiguous_strides(tuple(t.shape))),
    }


def changed_since_copy(out: Any, doc: dict[str, Any], arenas: dict[int, Arena]) -> bool:
    """The verified output compared again, a moment after its copy: work deferred past the return."""
    if "out" not in doc:
        return False
    try:
        from gpu_harness.check import same_bits

        now = [t for t in tensor_leaves(out) if type(t) is torch.Tensor]
        copied = [_view(d, arenas) for d in tensor_descs(doc["out"])]
        return not all(same_bits(a, b) for a, b in zip(now, copied) if b is not None)
    except Exception:
        return False


def _view(d: dict[str, Any], arenas: dict[int, Arena]) -> torch.Tensor | None:
    if d.get("arena") is None:
        return None
    return arenas[d["arena"]].view(d["offset"], DTYPES[d["dtype"]], tuple(d["shape"]), tuple(d["stride"]))


def tensor_descs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tensor leaf's description in a handed-back output's tree."""
    if doc["k"] == "tensor":
        return [doc]
    if doc["k"] in ("tuple", "list"):
        return [d for item in doc["items"] for d in tensor_descs(item)]
    if doc["k"] == "dict":
        return [d for _, item in doc["items"] for d in tensor_descs(item)]
    return []


def rebuild(
    doc: Any, view_of: Callable[..., torch.Tensor], device_type: str, on_flag: Callable[[str, str], None]
) -> Any:
    """The judge's side: the output tree from its description, every tensor a view of an arena (`view_of`:
    the judge's pool, which checks the bounds); anything unreadable becomes an Opaque leaf and a flag."""
    if not isinstance(doc, dict):
        return Opaque("malformed output")
    kind = doc.get("k")
    if kind == "tuple":
        return tuple(rebuild(x, view_of, device_type, on_flag) for x in doc.get("items", []))
    if kind == "list":
        return [rebuild(x, view_of, device_type, on_flag) for x in doc.get("items", [])]
    if kind == "dict":
        return {k: rebuild(v, view_of, device_type, on_flag) for k, v in doc.get("items", [])}
    if kind == "value":
        return doc.get("v")
    if kind == "tensor":
        try:
            view = view_of(
                int(doc["arena"]),
                int(doc["offset"]),
                DTYPES[str(doc["dtype"])],
                tuple(int(s) for s in doc["shape"]),
                tuple(int(s) for s in doc["stride"]),
            )
        except (ArenaError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            on_flag(
                guard.FLAG_ODD_OUTPUT_STORAGE,
                f"an output leaf that is not in memory the harness can read ({exc})",
            )
            return Opaque("unreadable tensor")
        if doc.get("device") != device_type:
            return view.to(str(doc.get("device")) if doc.get("device") in ("cpu", "cuda") else "meta")
        return view
    if kind == "lazy":
        return Opaque(str(doc.get("type")))
    return Opaque(str(doc.get("type", "unknown")))
