"""The recorder: raw input and screen frames in; merged actions, each with the screen just before it and
the element under the pointer, out."""
