// Entry point of the `spanguard` executable.
#include "spanguard/cli/app.h"

int main(int argc, char** argv) { return spanguard::cli::main(argc, argv); }
