"""The device layer: everything the firmware reads, and the host's mirrors of the firmware.

==============  ==================================================================
module          contract
==============  ==================================================================
``codegen``     the generated C files: model array, settings header, op resolver, footprint
``protocol``    replay frames (encode, decode) and the firmware's decision/smoothing logic
``hostbuild``   g++ / arm-none-eabi builds of the sketch's core; the one settings parser
``simdevice``   a simulated board on a pseudo-terminal (real C++ core, TFLM on the host)
``stream``      play a record into a board and pair its decisions with the host's
==============  ==================================================================
"""
from lrh_tflm.device.codegen import (
                                     FIRMWARE_FILES,
                                     ExportError,
                                     ExportResult,
                                     c_array_files,
                                     export_firmware,
                                     footprint,
                                     parse_c_array,
                                     settings_header,
)
from lrh_tflm.device.hostbuild import (
                                     FIRMWARE_DIR,
                                     DeviceSettings,
                                     FirmwareError,
                                     HostBuild,
                                     build_arm,
                                     build_host,
                                     run_host,
                                     settings_value,
)
from lrh_tflm.device.protocol import (
                                     FrameMirror,
                                     KOfNSmoother,
                                     decide,
                                     encode_frame,
                                     encode_sample_frames,
)
from lrh_tflm.device.simdevice import DeviceError, SimulatedDevice
from lrh_tflm.device.stream import HostReference, StreamConfig, StreamError, stream_record

__all__ = [
    "FIRMWARE_FILES", "ExportError", "ExportResult", "c_array_files", "export_firmware",
    "footprint", "parse_c_array", "settings_header", "FIRMWARE_DIR", "DeviceSettings",
    "FirmwareError", "HostBuild", "build_arm", "build_host", "run_host", "settings_value",
    "FrameMirror", "KOfNSmoother", "decide", "encode_frame", "encode_sample_frames",
    "DeviceError", "SimulatedDevice", "HostReference", "StreamConfig", "StreamError",
    "stream_record",
]
