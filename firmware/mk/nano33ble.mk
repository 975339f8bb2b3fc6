# make -C firmware nano33ble: the sketch compiled the way arduino-cli compiles it for the
# Arduino Nano 33 BLE (fqbn arduino:mbed_nano:nano33ble), against the libraries a user installs.
#
#   CORE_DIR  the Arduino mbed core (default: the newest arduino:mbed_nano under ~/.arduino15)
#   API_DIR   folder holding api/ (ArduinoCore-API); an installed core has it in cores/arduino
#   TFLM_DIR  Chirale_TensorFlowLite (default: ~/Arduino/libraries/Chirale_TensorFlowLite)
#   BLE_DIR   ArduinoBLE (default: ~/Arduino/libraries/ArduinoBLE)
#
# What is compiled: lrh_ecg.ino as C++ after '#include <Arduino.h>' (arduino-cli's sketch
# preprocessing; the sketch needs no generated prototypes), board_nano33ble.cpp, src/ and the
# model files, all with -Wall -Wextra -Werror; Chirale's framework and the kernels of the ops in
# model_ops.h (plus its Arduino glue), ArduinoBLE, Wire, the core and its API, each with the
# variant's own flag files (cflags.txt, cxxflags.txt, defines.txt, includes.txt; softfp ABI)
# and the defines of platform.txt's recipes.
#
# Linking: the precompiled mbed OS (variants/ARDUINO_NANO33BLE/libs/libmbed.a) is not
# distributable with the core's sources, so where it is missing a firmware image cannot be
# linked.  Everything else is linked into one relocatable object (ld -r, with newlib and
# libstdc++), and the symbols still undefined are listed: they must all be mbed OS's.
ARDUINO_DATA ?= $(HOME)/.arduino15
ARDUINO_USER ?= $(HOME)/Arduino
CORE_DIR ?= $(lastword $(sort $(wildcard $(ARDUINO_DATA)/packages/arduino/hardware/mbed_nano/*)))
API_DIR ?= $(CORE_DIR)/cores/arduino
TFLM_DIR ?= $(ARDUINO_USER)/libraries/Chirale_TensorFlowLite
BLE_DIR ?= $(ARDUINO_USER)/libraries/ArduinoBLE
ARM_CC ?= arm-none-eabi-gcc
ARM_NM ?= arm-none-eabi-nm

NB := $(FW)/build/nano33ble
NANO_VARIANT = $(CORE_DIR)/variants/ARDUINO_NANO33BLE
NANO_TFLM_ROOT = $(call tflm_root,$(TFLM_DIR))
NANO_ARCH := -mcpu=cortex-m4 -mfloat-abi=softfp -mfpu=fpv4-sp-d16
# platform.txt: recipe.{c,cpp}.o.pattern with runtime.ide.version 10607 and build.board
# ARDUINO_NANO33BLE; {includes} are the libraries' src folders plus core and variant.
NANO_DEFS = -DARDUINO=10607 -DARDUINO_ARDUINO_NANO33BLE -DARDUINO_ARCH_MBED \
	-DARDUINO_ARCH_NRF52840
NANO_INCLUDES = -I$(NANO_TFLM_ROOT) -I$(BLE_DIR)/src -I$(CORE_DIR)/libraries/Wire \
	-I$(CORE_DIR)/cores/arduino -I$(NANO_VARIANT) -I$(API_DIR) \
	-I$(API_DIR)/api/deprecated -I$(API_DIR)/api/deprecated-avr-comp \
	-iprefix$(CORE_DIR)/cores/arduino @$(NANO_VARIANT)/includes.txt
NANO_CFLAGS = -c -g3 -nostdlib @$(NANO_VARIANT)/defines.txt @$(NANO_VARIANT)/cflags.txt \
	$(NANO_ARCH) $(NANO_DEFS) $(NANO_INCLUDES)
NANO_CXXFLAGS = -c -g3 -nostdlib @$(NANO_VARIANT)/defines.txt @$(NANO_VARIANT)/cxxflags.txt \
	$(NANO_ARCH) $(NANO_DEFS) $(NANO_INCLUDES)
NANO_PROJECT_FLAGS := -Wall -Wextra -Werror

NANO_OPS = $(call model_ops_of,$(MODEL_DIR)/model_ops.h)
# Chirale's Arduino glue (DebugLog on Serial, micros() clock, peripherals) belongs to this
# build, unlike the emulator's.
NANO_TFLM_SRC = $(call tflm_sources,$(TFLM_DIR),$(NANO_OPS)) \
	$(foreach f,system_setup debug_log micro_time,\
	$(wildcard $(NANO_TFLM_ROOT)/tensorflow/lite/micro/$(f).cpp)) \
	$(wildcard $(NANO_TFLM_ROOT)/peripherals/*.cpp)
NANO_BLE_SRC = $(shell find $(BLE_DIR)/src -name '*.cpp' -o -name '*.c' 2>/dev/null)
NANO_CORE_SRC = $(shell find $(CORE_DIR)/cores/arduino -path '*/mbed' -prune -o \
	-path '*/api' -prune -o \( -name '*.cpp' -o -name '*.c' \) -print 2>/dev/null)
NANO_API_SRC = $(wildcard $(API_DIR)/api/*.cpp)
NANO_VARIANT_SRC = $(wildcard $(NANO_VARIANT)/*.cpp)
NANO_WIRE_SRC = $(wildcard $(CORE_DIR)/libraries/Wire/*.cpp)

nano_objs = $(patsubst $(2)/%,$(NB)/obj/$(1)/%.o,$(3))
NANO_TFLM_OBJ = $(call nano_objs,tflm,$(NANO_TFLM_ROOT),$(NANO_TFLM_SRC))
NANO_BLE_OBJ = $(call nano_objs,ble,$(BLE_DIR)/src,$(NANO_BLE_SRC))
NANO_CORE_OBJ = $(call nano_objs,core,$(CORE_DIR)/cores/arduino,$(NANO_CORE_SRC)) \
	$(call nano_objs,api,$(API_DIR)/api,$(NANO_API_SRC)) \
	$(call nano_objs,variant,$(NANO_VARIANT),$(NANO_VARIANT_SRC)) \
	$(call nano_objs,wire,$(CORE_DIR)/libraries/Wire,$(NANO_WIRE_SRC))

# The sketch folder as arduino-cli stages it (model files chosen by SETTINGS_DIR/MODEL_DIR).
NS := $(NB)/sketch
NANO_STAGED = $(addprefix $(NS)/src/,$(CORE_CPP) $(CORE_H) model_settings.h model_data.h \
	model_data.cc model_ops.h) $(addprefix $(NS)/,board.h frontend_config.h board_nano33ble.cpp)
$(NS)/src/model_settings.h: $(SETTINGS_DIR)/model_settings.h
	@mkdir -p $(@D)
	@cp $< $@
$(NS)/src/model_%: $(MODEL_DIR)/model_%
	@mkdir -p $(@D)
	@cp $< $@
$(NS)/src/%: $(SRC)/%
	@mkdir -p $(@D)
	@cp $< $@
$(NS)/%: $(FW)/lrh_ecg/%
	@mkdir -p $(@D)
	@cp $< $@
$(NS)/lrh_ecg.ino.cpp: $(FW)/lrh_ecg/lrh_ecg.ino
	@mkdir -p $(@D)
	@{ echo '#include <Arduino.h>'; echo '#line 1 "$<"'; cat $<; } > $@

NANO_PROJECT_OBJ = $(NB)/obj/sketch/lrh_ecg.ino.cpp.o $(NB)/obj/sketch/board_nano33ble.cpp.o \
	$(addprefix $(NB)/obj/sketch/src/,$(CORE_CPP:=.o) model_data.cc.o)

nano_compile = $(if $(filter %.c,$<),$(ARM_CC) $(NANO_CFLAGS),$(ARM_CXX) $(NANO_CXXFLAGS))
$(NB)/obj/sketch/%.o: $(NS)/% $(NANO_STAGED) | nano33ble-trees
	@mkdir -p $(@D)
	$(ARM_CXX) $(NANO_CXXFLAGS) $(NANO_PROJECT_FLAGS) -I$(NS) $< -o $@
$(NB)/obj/tflm/%.o: $(NANO_TFLM_ROOT)/% | nano33ble-trees
	@mkdir -p $(@D)
	@$(nano_compile) $< -o $@
# Core and library sources that need a header this CORE_DIR lacks (a trimmed core such as
# ../shared/third_party's has only the closure of Arduino.h/mbed.h/rtos.h: no mbed USB or
# Cordio driver headers) become empty objects, named with the missing header in *.missing;
# any other error fails the build.  Project and TFLM sources get no such leniency.
define nano_lenient
	@mkdir -p $(@D)
	@rm -f $@.missing
	@$(nano_compile) $< -o $@ 2> $@.err || { \
	  if grep -q 'fatal error: .*: No such file or directory' $@.err; then \
	    grep -m1 -o 'fatal error: .*' $@.err | sed 's|^|$(patsubst $(NB)/obj/%.o,%,$@): |' > $@.missing; \
	    echo | $(ARM_CC) $(NANO_ARCH) -mthumb -x c -c - -o $@; \
	  else cat $@.err; exit 1; fi; }
endef
$(NB)/obj/ble/%.o: $(BLE_DIR)/src/% | nano33ble-trees
	$(nano_lenient)
$(NB)/obj/core/%.o: $(CORE_DIR)/cores/arduino/% | nano33ble-trees
	$(nano_lenient)
$(NB)/obj/api/%.o: $(API_DIR)/api/% | nano33ble-trees
	$(nano_lenient)
$(NB)/obj/variant/%.o: $(NANO_VARIANT)/% | nano33ble-trees
	$(nano_lenient)
$(NB)/obj/wire/%.o: $(CORE_DIR)/libraries/Wire/% | nano33ble-trees
	$(nano_lenient)

.PHONY: nano33ble-trees
nano33ble-trees:
	@test -f "$(NANO_VARIANT)/cxxflags.txt" || { echo "nano33ble: no Nano 33 BLE variant in CORE_DIR='$(CORE_DIR)' (arduino-cli core install arduino:mbed_nano, or pass CORE_DIR=)"; exit 2; }
	@test -f "$(API_DIR)/api/ArduinoAPI.h" || { echo "nano33ble: no api/ArduinoAPI.h in API_DIR='$(API_DIR)' (pass API_DIR= an ArduinoCore-API checkout)"; exit 2; }
	@test -f "$(NANO_TFLM_ROOT)/Chirale_TensorFlowLite.h" || { echo "nano33ble: no Chirale_TensorFlowLite.h in TFLM_DIR='$(TFLM_DIR)' (arduino-cli lib install Chirale_TensorFlowLite, or pass TFLM_DIR=)"; exit 2; }
	@test -f "$(BLE_DIR)/src/ArduinoBLE.h" || { echo "nano33ble: no ArduinoBLE in BLE_DIR='$(BLE_DIR)' (arduino-cli lib install ArduinoBLE, or pass BLE_DIR=)"; exit 2; }

NANO_LIB_OBJ = $(NANO_TFLM_OBJ) $(NANO_BLE_OBJ) $(NANO_CORE_OBJ)
NANO_PARTIAL := $(NB)/lrh_ecg.partial.o
$(NANO_PARTIAL): $(NANO_PROJECT_OBJ) $(NANO_LIB_OBJ)
	@echo "ld -r $(words $^) objects -> $@"
	@$(ARM_CXX) $(NANO_ARCH) -mthumb -r -Wl,--gc-sections -Wl,-u,main -Wl,-u,setup \
		-Wl,-u,loop -Wl,-Map,$(NB)/lrh_ecg.partial.map -o $@ $(NANO_PROJECT_OBJ) \
		$(NANO_LIB_OBJ) -Wl,--start-group -lstdc++ -lsupc++ -lm -lc -lgcc -Wl,--end-group

nano33ble: nano33ble-trees $(NANO_PARTIAL)
	@echo "== Nano 33 BLE: project objects (sketch, board, src/, model; -Werror)"
	@$(ARM_SIZE) -t $(NANO_PROJECT_OBJ) | tail -1
	@echo "== Chirale_TensorFlowLite objects ($(words $(NANO_TFLM_OBJ)) files; ops: $(NANO_OPS))"
	@$(ARM_SIZE) -t $(NANO_TFLM_OBJ) | tail -1
	@echo "== relocatable link of sketch + TFLM + ArduinoBLE + Wire + core + newlib/libstdc++"
	@$(ARM_SIZE) $(NANO_PARTIAL)
	@$(ARM_NM) -u -C $(NANO_PARTIAL) | sed 's/^ *U //' > $(NB)/undefined.txt
	@cat $(NB)/obj/*/*.missing $(NB)/obj/*/*/*.missing 2>/dev/null | sed 's/^/not compiled here: /' || true
	@echo "link: impossible here: $(NANO_VARIANT)/libs/libmbed.a (the precompiled mbed OS) is \
	$(if $(wildcard $(NANO_VARIANT)/libs/libmbed.a),present: link with arduino-cli,missing); \
	$$(wc -l < $(NB)/undefined.txt) symbols left undefined, listed in $(NB)/undefined.txt"
