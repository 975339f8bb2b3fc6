/* Start-up code for the firmware on QEMU's mps2-an386 (Cortex-M4F): vector table, FPU on,
 * .data copied and .bss zeroed, static constructors, then main().  Memory layout in
 * mps2_an386.ld (sized like the Nano 33 BLE: 1 MB flash, 256 KB RAM). */
#include <stdint.h>

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern void __libc_init_array(void);
extern int main(void);
extern void TIMER1_Handler(void);
extern void board_qemu_fail(const char* why) __attribute__((noreturn));

/* newlib's __libc_init_array calls these; there is no crti/crtn (-nostartfiles). */
void _init(void) {}
void _fini(void) {}
/* Static destructors are registered against it (they never run: the firmware never returns). */
void* __dso_handle = 0;

void Reset_Handler(void) {
  /* CP10/CP11 full access before any floating-point instruction. */
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  const uint32_t* src = &__data_load;
  for (uint32_t* dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  __libc_init_array();
  main();
  board_qemu_fail("{\"qemu_fault\":\"main returned\"}\n");
}

static void Fault_Handler(void) { board_qemu_fail("{\"qemu_fault\":\"fault exception\"}\n"); }
static void Unexpected_Handler(void) { board_qemu_fail("{\"qemu_fault\":\"unexpected interrupt\"}\n"); }

typedef void (*Vector)(void);
__attribute__((section(".isr_vector"), used)) const Vector kVectors[16 + 32] = {
    (Vector)&__stack_top, Reset_Handler,
    Fault_Handler,       /* NMI */
    Fault_Handler,       /* HardFault */
    Fault_Handler,       /* MemManage */
    Fault_Handler,       /* BusFault */
    Fault_Handler,       /* UsageFault */
    0, 0, 0, 0,
    Unexpected_Handler,  /* SVCall */
    Unexpected_Handler,  /* DebugMon */
    0,
    Unexpected_Handler,  /* PendSV */
    Unexpected_Handler,  /* SysTick */
    /* IRQ 0..31 (mps2-an386: 8 = timer0, 9 = timer1) */
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, TIMER1_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
    Unexpected_Handler, Unexpected_Handler, Unexpected_Handler, Unexpected_Handler,
};

/* Heap for newlib (TFLM itself allocates nothing; vsnprintf may). */
extern uint8_t __heap_start, __heap_end;
void* _sbrk(intptr_t increment) {
  static uint8_t* brk = &__heap_start;
  if (brk + increment > &__heap_end) return (void*)-1;
  uint8_t* old = brk;
  brk += increment;
  return old;
}
