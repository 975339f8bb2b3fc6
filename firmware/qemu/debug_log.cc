// TFLM's DebugLog for the emulator build: TFLM's messages go to the serial link, like the
// Arduino libraries print them on Serial.  Chirale's older TFLM declares the one-argument
// DebugLog(const char*); firmware/mk/qemu.mk defines LRH_TFLM_DEBUGLOG_V1 for such a tree.
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "board.h"
#include "tensorflow/lite/micro/debug_log.h"

extern "C" {
#if defined(LRH_TFLM_DEBUGLOG_V1)
void DebugLog(const char* s) {
  board_serial_write(reinterpret_cast<const uint8_t*>(s), std::strlen(s));
}
#else
void DebugLog(const char* format, va_list args) {
  char buf[256];
  const int n = std::vsnprintf(buf, sizeof buf, format, args);
  if (n > 0)
    board_serial_write(reinterpret_cast<const uint8_t*>(buf),
                       static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1);
}

int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return std::vsnprintf(buffer, buf_size, format, vlist);
}
#endif
}
