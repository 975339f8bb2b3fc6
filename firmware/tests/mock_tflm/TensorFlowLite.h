// Stand-in for the Chirale_TensorFlowLite library header (declarations only; see README.md).
#pragma once
