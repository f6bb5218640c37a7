#include <stdio.h>
int main(void) { puts("kiln: under construction"); return 0; }
