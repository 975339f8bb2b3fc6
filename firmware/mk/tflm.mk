# Which TFLM sources a firmware build compiles: the framework plus the kernels of the ops that
# the model's resolver registers (src/model_ops.h), nothing else.  Works on a stand-alone TFLM
# tree (create_tflm_tree.py: .cc files, third-party headers under third_party/) and on the
# Chirale_TensorFlowLite Arduino library (.cpp files under src/, includes relative to src/).
#
#   $(call tflm_root,DIR)        folder holding tensorflow/ (DIR or DIR/src)
#   $(call tflm_includes,DIR)    -isystem flags for that tree (system: its warnings are not ours)
#   $(call tflm_sources,DIR,OPS) framework + kernel + CMSIS-NN sources for the builtin ops OPS
#   $(call tflm_has_cmsis_nn,DIR) non-empty when the tree carries CMSIS-NN kernels
#
# OPS are the schema's names (ADD CONV_2D MEAN ...), read from model_ops.h's op comment.

# One spelling per tree: .../main/../shared/x and .../shared/x (and a symlink to it) are the
# same tree, so they share one object folder and archive (the folder is keyed by the flags,
# which carry the path).
override TFLM_DIR := $(or $(realpath $(TFLM_DIR)),$(TFLM_DIR))

tflm_root = $(if $(wildcard $(1)/src/tensorflow),$(1)/src,$(1))
tflm_has_cmsis_nn = $(wildcard $(call tflm_root,$(1))/tensorflow/lite/micro/kernels/cmsis_nn)

# Stand-alone trees keep third-party headers in per-project roots; Chirale rewrote its includes
# to be relative to src/ (what the Arduino builder puts on the path).
TFLM_THIRD_PARTY_ROOTS := third_party/flatbuffers/include third_party/gemmlowp third_party/ruy \
	third_party/cmsis third_party/cmsis/CMSIS/Core/Include third_party/cmsis_nn \
	third_party/cmsis_nn/Include third_party/kissfft
tflm_includes = -isystem $(call tflm_root,$(1)) $(if $(wildcard $(1)/src/tensorflow),,\
	$(addprefix -isystem $(1)/,$(TFLM_THIRD_PARTY_ROOTS)))

TFLM_FRAMEWORK_DIRS := tensorflow/lite/micro tensorflow/lite/micro/arena_allocator \
	tensorflow/lite/micro/memory_planner tensorflow/lite/micro/tflite_bridge \
	tensorflow/lite/core/api tensorflow/lite/core/c tensorflow/lite/kernels \
	tensorflow/lite/kernels/internal tensorflow/lite/kernels/internal/reference \
	tensorflow/lite/schema tensorflow/compiler/mlir/lite/schema tensorflow/compiler/mlir/lite/core/api
# Tests, mocks and the recording/profiling helpers are not firmware; the platform glue
# (system_setup, debug_log, micro_time) is the application's (firmware/qemu) or, for Chirale
# on a real Arduino, added back by the caller.
TFLM_FRAMEWORK_SKIP := %_test %test_helpers %test_helper_custom_ops %mock_micro_graph \
	%fake_micro_context %recording_micro_allocator %recording_single_arena_buffer_allocator \
	%system_setup %debug_log %micro_time %micro_profiler %all_ops_resolver
TFLM_EXTS := cc cpp c

tflm_strip_ext = $(basename $(1))
tflm_in_dirs = $(foreach d,$(2),$(foreach e,$(TFLM_EXTS),$(wildcard $(1)/$(d)/*.$(e))))
tflm_framework = $(foreach f,$(call tflm_in_dirs,$(call tflm_root,$(1)),$(TFLM_FRAMEWORK_DIRS)),\
	$(if $(filter $(TFLM_FRAMEWORK_SKIP),$(call tflm_strip_ext,$(f))),,$(f)))

# Builtin op name -> kernel file stem (most are the lower-case name).
TFLM_KERNEL_OF_CONV_2D := conv
TFLM_KERNEL_OF_DEPTHWISE_CONV_2D := depthwise_conv
TFLM_KERNEL_OF_TRANSPOSE_CONV := transpose_conv
TFLM_KERNEL_OF_MEAN := reduce
TFLM_KERNEL_OF_SUM := reduce
TFLM_KERNEL_OF_REDUCE_MAX := reduce
TFLM_KERNEL_OF_AVERAGE_POOL_2D := pooling
TFLM_KERNEL_OF_MAX_POOL_2D := pooling
TFLM_KERNEL_OF_RELU := activations
TFLM_KERNEL_OF_RELU6 := activations
TFLM_KERNEL_OF_HARD_SWISH := hard_swish
tflm_lower = $(shell echo '$(1)' | tr 'A-Z' 'a-z')
tflm_kernel_stems = $(sort $(foreach op,$(1),$(or $(TFLM_KERNEL_OF_$(op)),$(call tflm_lower,$(op)))) \
	kernel_util)
# For each stem: the CMSIS-NN version when the tree has one, else the portable one; plus the
# stem's *_common file.
tflm_kernel_file = $(firstword $(foreach e,$(TFLM_EXTS),$(wildcard $(1)/cmsis_nn/$(2).$(e))) \
	$(foreach e,$(TFLM_EXTS),$(wildcard $(1)/$(2).$(e))))
tflm_kernels = $(foreach s,$(call tflm_kernel_stems,$(2)),\
	$(call tflm_kernel_file,$(call tflm_root,$(1))/tensorflow/lite/micro/kernels,$(s)) \
	$(foreach e,$(TFLM_EXTS),$(wildcard $(call tflm_root,$(1))/tensorflow/lite/micro/kernels/$(s)_common.$(e))))
# CMSIS-NN's C sources (the linker keeps only the functions the kernels call).
tflm_cmsis_nn_sources = $(if $(call tflm_has_cmsis_nn,$(1)),$(foreach d,$(wildcard \
	$(call tflm_root,$(1))/third_party/cmsis_nn/Source/*),$(wildcard $(d)/*.c)))
tflm_sources = $(call tflm_framework,$(1)) $(call tflm_kernels,$(1),$(2)) \
	$(call tflm_cmsis_nn_sources,$(1))

# The ops of a model_ops.h ("// Builtin ops of the model (7): ADD, CONV_2D, ..."), as words.
model_ops_of = $(subst $(comma), ,$(shell sed -n 's/^\/\/ Builtin ops of the model ([0-9]*): //p' $(1)))
comma := ,
