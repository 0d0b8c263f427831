"""``#dispatch.lowering_config``: the schedule of one dispatch region, chosen by tuning.

IREE's habit: tuning annotates, lowering reads. ``tune-workgroups`` (or a
person editing the IR) writes this attribute on a ``dispatch.region``;
``convert-dispatch-to-tiled`` materializes exactly what it says and never
chooses sizes itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr, IntAttr, StringAttr
from xdsl.ir import ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

STRATEGIES = ("elementwise", "row", "contraction", "attention", "sample")
"""How a region is mapped onto workgroups (see passes/conversion/dispatch_to_tiled.py)."""


@irdl_attr_definition
class LoweringConfigAttr(ParametrizedAttribute):
    """How to lower one dispatch region: strategy, workgroup size and tile sizes.

    ``strategy`` is one of ``STRATEGIES``. ``workgroup`` is the workgroup size
    (x, y, z). ``tile`` is strategy-specific:

    - elementwise: ``[]`` (one element per thread);
    - row: ``[]`` (one row per workgroup, threads stride along the row);
    - contraction: ``[rows]`` or ``[rows, tokens]``: output rows per workgroup
      (its threads split into ``rows`` groups that each reduce one row,
      split-K) and tokens per workgroup (default 1; more reuses each decoded
      weight block for several tokens of a prefill);
    - attention: ``[kv_tile]``, KV positions per step of the online softmax,
      or ``[kv_tile, partition]``: split-KV, each workgroup takes
      ``partition`` positions and writes partial results that a second
      kernel combines (``kv_tile`` may be smaller than the workgroup: then
      ``workgroup / kv_tile`` threads share each position's dot product);
    - sample: ``[]`` (one workgroup draws the token: passes/codegen/sampling.py).

    Example: ``#dispatch.lowering_config<contraction, workgroup = [256, 1, 1], tile = [8]>``
    """

    name = "dispatch.lowering_config"

    strategy: StringAttr
    workgroup: ArrayAttr[IntAttr]
    tile: ArrayAttr[IntAttr]

    def __init__(self, strategy: str, workgroup: Sequence[int], tile: Sequence[int] = ()) -> None:
        super().__init__(
            StringAttr(strategy),
            ArrayAttr([IntAttr(w) for w in workgroup]),
            ArrayAttr([IntAttr(t) for t in tile]),
        )

    @property
    def workgroup_size(self) -> tuple[int, int, int]:
        x, y, z = (w.data for w in self.workgroup.data)
        return x, y, z

    @property
    def tile_sizes(self) -> tuple[int, ...]:
        return tuple(t.data for t in self.tile.data)

    @property
    def threads(self) -> int:
        x, y, z = self.workgroup_size
        return x * y * z

    def verify(self) -> None:
        problem = _config_problem(self.strategy.data, [w.data for w in self.workgroup.data], [t.data for t in self.tile.data])
        if problem is not None:
            raise VerifyException(problem)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[StringAttr | ArrayAttr[IntAttr]]:
        def int_list() -> ArrayAttr[IntAttr]:
            items = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_integer)
            return ArrayAttr([IntAttr(i) for i in items])

        with parser.in_angle_brackets():
            strategy = parser.parse_identifier()
            parser.parse_punctuation(",")
            parser.parse_keyword("workgroup")
            parser.parse_punctuation("=")
            workgroup = int_list()
            tile: ArrayAttr[IntAttr] = ArrayAttr([])
            if parser.parse_optional_punctuation(","):
                parser.parse_keyword("tile")
                parser.parse_punctuation("=")
                tile = int_list()
        # checked here too, so that a bad config is a located parse error rather than a crash
        problem = _config_problem(strategy, [w.data for w in workgroup.data], [t.data for t in tile.data])
        if problem is not None:
            parser.raise_error(problem)
        return [StringAttr(strategy), workgroup, tile]

    def print_parameters(self, printer: Printer) -> None:
        wg = ", ".join(str(w.data) for w in self.workgroup.data)
        printer.print_string(f"<{self.strategy.data}, workgroup = [{wg}]")
        if self.tile.data:
            printer.print_string(", tile = [" + ", ".join(str(t.data) for t in self.tile.data) + "]")
        printer.print_string(">")


def _config_problem(strategy: str, workgroup: Sequence[int], tile: Sequence[int]) -> str | None:
    """Why a lowering config is invalid, or None."""
    if strategy not in STRATEGIES:
        return f"unknown strategy '{strategy}' (expected one of {', '.join(STRATEGIES)})"
    if len(workgroup) != 3 or any(w <= 0 for w in workgroup):
        return "workgroup must be three positive sizes [x, y, z]"
    if any(t <= 0 for t in tile):
        return "tile sizes must be positive"
    if strategy == "contraction" and (len(tile) not in (1, 2) or (workgroup[0] * workgroup[1] * workgroup[2]) % tile[0]):
        return "contraction needs tile = [rows] or [rows, tokens] with rows dividing the workgroup size"
    if strategy == "attention" and (len(tile) not in (1, 2) or (len(tile) == 2 and tile[1] % tile[0])):
        return "attention needs tile = [kv_tile] or [kv_tile, partition] with partition a multiple of kv_tile"
    return None
