// What the Arduino core does around a sketch: setup() once, then loop() forever.
void setup();
void loop();

int main() {
  setup();
  for (;;) loop();
}
