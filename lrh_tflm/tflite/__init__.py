"""The int8 TFLite layer: read, quantise, convert, lay out, run and check flatbuffers.

==============  ==================================================================
module          contract
==============  ==================================================================
``schema``      the one flatbuffer reader (ops, constants, I/O details) and writer
``qat``         quantisation-aware training with tfmot (QuantizeConfigs, ranges)
``convert``     float / full-int8 conversion and the TFLM op check
``layout``      names stripped and the offline arena plan (TFLM metadata)
``runtime``     LiteRT / LiteRT-ref / TFLM runners, the input quantiser, arena size
``parity``      the parity chain: TFLM == LiteRT-ref, XNNPACK kernel by kernel, Keras
==============  ==================================================================
"""
from lrh_tflm.tflite.convert import (
                                     KNOWN_FORBIDDEN,
                                     TFLM_INT8_OPS,
                                     ConversionError,
                                     check_ops,
                                     convert_float,
                                     convert_int8,
)
from lrh_tflm.tflite.layout import (
                                     ArenaPlan,
                                     LayoutError,
                                     embedded_plan,
                                     layout_for_mcu,
                                     plan_arena,
                                     without_plan,
)
from lrh_tflm.tflite.parity import (
                                     ParityFailure,
                                     ParityReport,
                                     first_divergence,
                                     op_lsb_divergence,
                                     parity_chain,
)
from lrh_tflm.tflite.qat import (
                                     calibrate_ranges,
                                     output_quantize_config,
                                     pointwise_quantize_config,
                                     quantize_aware,
                                     quantize_scope,
                                     unquantized_layers,
)
from lrh_tflm.tflite.runtime import (
                                     ARENA_ALIGNMENT,
                                     RUNTIMES,
                                     Runner,
                                     dequantize_array,
                                     make_runner,
                                     measure_arena,
                                     quantize_array,
)
from lrh_tflm.tflite.schema import (
                                     ModelFormatError,
                                     TensorInfo,
                                     find_inputs,
                                     io_details,
                                     op_name,
                                     tensor_details,
                                     tflite_ops,
                                     unpack_model,
)

__all__ = [
    "KNOWN_FORBIDDEN", "TFLM_INT8_OPS", "ConversionError", "check_ops", "convert_float",
    "convert_int8", "ArenaPlan", "LayoutError", "embedded_plan", "layout_for_mcu", "plan_arena",
    "without_plan", "ParityFailure", "ParityReport", "first_divergence", "op_lsb_divergence",
    "parity_chain", "calibrate_ranges", "output_quantize_config", "pointwise_quantize_config",
    "quantize_aware", "quantize_scope", "unquantized_layers",
    "ARENA_ALIGNMENT", "RUNTIMES", "Runner", "dequantize_array", "make_runner", "measure_arena",
    "quantize_array", "ModelFormatError", "TensorInfo", "find_inputs", "io_details", "op_name",
    "tensor_details", "tflite_ops", "unpack_model",
]
