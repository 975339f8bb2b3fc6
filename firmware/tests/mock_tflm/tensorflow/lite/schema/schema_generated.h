// Declarations-only stand-in: the schema version the sketch compares against.
#pragma once
#define TFLITE_SCHEMA_VERSION (3)
