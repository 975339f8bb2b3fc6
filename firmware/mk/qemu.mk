# make -C firmware qemu TFLM_DIR=<tree>: the sketch (lrh_ecg.ino, unchanged), board_qemu.cpp,
# src/ and the model files with a real TFLM, linked into an ELF for QEMU's mps2-an386:
#   qemu-system-arm -M mps2-an386 -nographic -semihosting -icount shift=0 -kernel <ELF>
# (firmware/README.md: what the emulated board reads and prints).
#
#   TFLM_DIR     a stand-alone TFLM tree (create_tflm_tree.py; with or without CMSIS-NN) or the
#                Chirale_TensorFlowLite library
#   QEMU_NAME    names the build (default: the tree's folder name)
#   QEMU_BUILD   where the sketch objects and the ELF go (default build/qemu/$(QEMU_NAME))
#   QEMU_HZ      the modelled board clock in instructions per second (default 64000000)
#   QEMU_OPT     optimisation of TFLM and the sketch (default -Os, what the Arduino core uses)
#
# TFLM is compiled once per tree into build/tflm/$(QEMU_NAME)/ (the framework plus the kernels
# of the ops in model_ops.h, mk/tflm.mk) and archived per op set; later builds of any model
# with the same ops reuse the archive.
QEMU_TFLM_ROOT = $(call tflm_root,$(TFLM_DIR))
QEMU_NAME ?= $(notdir $(patsubst %/,%,$(TFLM_DIR)))
QEMU_BUILD ?= $(FW)/build/qemu/$(QEMU_NAME)
QEMU_HZ ?= 64000000
QEMU_OPT ?= -Os
# One object folder per tree and compiler flags (a changed define must never meet stale objects).
QEMU_FLAGS_KEY = $(shell echo '$(QEMU_TFLM_CXXFLAGS) | $(QEMU_TFLM_CFLAGS)' | md5sum | cut -c1-8)
QT = $(FW)/build/tflm/$(QEMU_NAME)-$(QEMU_FLAGS_KEY)
QEMU_OPS = $(call model_ops_of,$(MODEL_DIR)/model_ops.h)
QEMU_TFLM_SRC = $(call tflm_sources,$(TFLM_DIR),$(QEMU_OPS))
QEMU_TFLM_OBJ = $(patsubst $(QEMU_TFLM_ROOT)/%,$(QT)/obj/%.o,$(QEMU_TFLM_SRC))
QEMU_LIB = $(QT)/libtflm_$(subst $(space),_,$(strip $(QEMU_OPS))).a
space := $(empty) $(empty)

QEMU_ARCH := -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16
# A stand-alone tree is built as TFLM's own Makefile builds it (TF_LITE_STATIC_MEMORY; CMSIS_NN
# for the CMSIS-NN kernels, whose headers test it).  Chirale's library is built as the Arduino
# builder builds it: ARDUINO defined (its sources use it as their platform switch: CMSIS-NN
# kernel variants, no abort()), TF_LITE_STATIC_MEMORY not.
QEMU_TFLM_DEFS = $(if $(wildcard $(TFLM_DIR)/src/tensorflow),-DARDUINO=10607,-DTF_LITE_STATIC_MEMORY) $(if $(and $(call tflm_has_cmsis_nn,$(TFLM_DIR)),\
	$(wildcard $(TFLM_DIR)/third_party/cmsis_nn)),-DCMSIS_NN) \
	$(shell grep -q DebugVsnprintf $(QEMU_TFLM_ROOT)/tensorflow/lite/micro/debug_log.h 2>/dev/null \
	|| echo -DLRH_TFLM_DEBUGLOG_V1)
QEMU_COMMON = $(QEMU_ARCH) $(QEMU_OPT) -ffunction-sections -fdata-sections
QEMU_TFLM_CXXFLAGS = $(QEMU_COMMON) -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics \
	-fno-unwind-tables $(QEMU_TFLM_DEFS) $(call tflm_includes,$(TFLM_DIR))
QEMU_TFLM_CFLAGS = $(QEMU_COMMON) -std=c11 $(QEMU_TFLM_DEFS) $(call tflm_includes,$(TFLM_DIR))
# The project's own files: warnings are errors.  -ffp-contract=off keeps the float band-pass
# free of fused multiply-adds, so the board's int8 windows equal the host build's (lrh_host,
# x86-64 SSE) bit for bit and any output difference is TFLM's.
QEMU_CXXFLAGS = $(QEMU_TFLM_CXXFLAGS) -Wall -Wextra -Werror -ffp-contract=off -DLRH_QEMU \
	-DLRH_TRACE -DLRH_QEMU_HZ=$(QEMU_HZ)u -I$(QS) -I$(FW)/qemu
QEMU_LDFLAGS = $(QEMU_ARCH) -nostartfiles --specs=nano.specs --specs=nosys.specs \
	-T$(FW)/qemu/mps2_an386.ld -Wl,--gc-sections

QS = $(QEMU_BUILD)/sketch
QEMU_STAGED = $(addprefix $(QS)/src/,$(CORE_CPP) $(CORE_H) model_settings.h model_data.h \
	model_data.cc model_ops.h) $(addprefix $(QS)/,board.h frontend_config.h board_qemu.cpp \
	lrh_ecg.ino.cpp)
$(QS)/src/model_settings.h: $(SETTINGS_DIR)/model_settings.h
	@mkdir -p $(@D)
	@cp $< $@
$(QS)/src/model_%: $(MODEL_DIR)/model_%
	@mkdir -p $(@D)
	@cp $< $@
$(QS)/src/%: $(SRC)/%
	@mkdir -p $(@D)
	@cp $< $@
$(QS)/lrh_ecg.ino.cpp: $(FW)/lrh_ecg/lrh_ecg.ino
	@mkdir -p $(@D)
	@{ echo '#line 1 "$<"'; cat $<; } > $@
$(QS)/%: $(FW)/lrh_ecg/%
	@mkdir -p $(@D)
	@cp $< $@

QEMU_OBJ = $(addprefix $(QEMU_BUILD)/obj/,lrh_ecg.ino.o board_qemu.o $(CORE_CPP:.cpp=.o) \
	model_data.o startup.o main.o debug_log.o lrh_trace.o)
$(QEMU_BUILD)/obj/lrh_ecg.ino.o: $(QS)/lrh_ecg.ino.cpp $(QEMU_STAGED) | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-g++ [qemu, -Werror] $(notdir $<)"
	@$(ARM_CXX) $(QEMU_CXXFLAGS) -c $< -o $@
$(QEMU_BUILD)/obj/%.o: $(QS)/%.cpp $(QEMU_STAGED) | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-g++ [qemu, -Werror] $(notdir $<)"
	@$(ARM_CXX) $(QEMU_CXXFLAGS) -c $< -o $@
$(QEMU_BUILD)/obj/%.o: $(QS)/src/%.cpp $(QEMU_STAGED) | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-g++ [qemu, -Werror] $(notdir $<)"
	@$(ARM_CXX) $(QEMU_CXXFLAGS) -c $< -o $@
$(QEMU_BUILD)/obj/model_data.o: $(QS)/src/model_data.cc $(QEMU_STAGED) | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-g++ [qemu, -Werror] $(notdir $<)"
	@$(ARM_CXX) $(QEMU_CXXFLAGS) -c $< -o $@
$(QEMU_BUILD)/obj/%.o: $(FW)/qemu/%.cpp $(QEMU_STAGED) $(FW)/qemu/lrh_trace.h | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-g++ [qemu, -Werror] $(notdir $<)"
	@$(ARM_CXX) $(QEMU_CXXFLAGS) -c $< -o $@
$(QEMU_BUILD)/obj/%.o: $(FW)/qemu/%.cc $(QEMU_STAGED) | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-g++ [qemu, -Werror] $(notdir $<)"
	@$(ARM_CXX) $(QEMU_CXXFLAGS) -c $< -o $@
$(QEMU_BUILD)/obj/startup.o: $(FW)/qemu/startup.c | qemu-tree
	@mkdir -p $(@D)
	@echo "arm-none-eabi-gcc [qemu, -Werror] $(notdir $<)"
	@$(ARM_CC) $(QEMU_COMMON) -std=c11 -Wall -Wextra -Werror -c $< -o $@

# Every TFLM C++ file parses the same heavy headers first (the flatbuffer schema and the
# interpreter: about 90,000 lines a file, most of its compile time).  They are compiled once
# per tree and flags into a precompiled header that each TFLM C++ object includes first
# (-include; GCC refuses a stale one, -Winvalid-pch says so).  The objects are the same bytes
# (objdump-checked); the archive compiles in about half the time.
QEMU_PCH = $(QT)/pch/tflm_pch.h
$(QEMU_PCH): | qemu-tree
	@mkdir -p $(@D)
	@printf '#include "tensorflow/lite/schema/schema_generated.h"\n#include "tensorflow/lite/micro/micro_interpreter.h"\n' > $@
$(QEMU_PCH).gch: $(QEMU_PCH)
	@echo "arm-none-eabi-g++ precompiled TFLM headers ($(QEMU_NAME))"
	@$(ARM_CXX) $(QEMU_TFLM_CXXFLAGS) -x c++-header $< -o $@

$(QT)/obj/%.o: $(QEMU_TFLM_ROOT)/% | qemu-tree $(QEMU_PCH).gch
	@mkdir -p $(@D)
	@$(if $(filter %.c,$<),$(ARM_CC) $(QEMU_TFLM_CFLAGS),$(ARM_CXX) $(QEMU_TFLM_CXXFLAGS) \
		-include $(QEMU_PCH) -Winvalid-pch) -c $< -o $@
# The Makefile's .SECONDARY makes every object an intermediate file, which make does not build
# for an archive that is newer than the sources; the source list, rewritten only when it
# changes (another tree layout, an added framework folder), makes the archive out of date.
QEMU_LIST = $(QT)/sources_$(subst $(space),_,$(strip $(QEMU_OPS))).txt
ifneq ($(filter qemu,$(MAKECMDGOALS)),)
$(shell mkdir -p $(QT) && { echo '$(QEMU_TFLM_SRC)' | cmp -s - $(QEMU_LIST) || \
	echo '$(QEMU_TFLM_SRC)' > $(QEMU_LIST); })
endif
$(QEMU_LIB): $(QEMU_TFLM_OBJ) $(QEMU_LIST)
	@echo "ar $(words $(QEMU_TFLM_OBJ)) TFLM objects ($(QEMU_NAME); ops: $(strip $(QEMU_OPS))) -> $@"
	@rm -f $@
	@$(ARM_AR) rcs $@ $(QEMU_TFLM_OBJ)
ARM_AR ?= arm-none-eabi-ar

QEMU_ELF = $(QEMU_BUILD)/lrh_ecg.elf
$(QEMU_ELF): $(QEMU_OBJ) $(QEMU_LIB) $(FW)/qemu/mps2_an386.ld
	@echo "link $@"
	@$(ARM_CXX) $(QEMU_LDFLAGS) -Wl,-Map,$(QEMU_BUILD)/lrh_ecg.map -o $@ $(QEMU_OBJ) $(QEMU_LIB) -lm

.PHONY: qemu-tree
qemu-tree:
	@test -n "$(TFLM_DIR)" -a -f "$(QEMU_TFLM_ROOT)/tensorflow/lite/micro/micro_interpreter.h" || \
		{ echo "qemu: TFLM_DIR='$(TFLM_DIR)' is not a TFLM tree (pass TFLM_DIR=, e.g. ../shared/third_party/tflm-cmsis-nn)"; exit 2; }

qemu: qemu-tree $(QEMU_ELF)
	@echo "== $(QEMU_ELF) ($(QEMU_NAME), $(QEMU_HZ) instructions/s board clock)"
	@$(ARM_SIZE) $(QEMU_ELF)
