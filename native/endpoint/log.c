#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

int log_threshold = LOG_INFO;
const char *log_role = "custody";

void logf_(int level, const char *fmt, ...) {
  if (level < log_threshold) return;
  char msg[1024], line[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* The message is ours (no user bytes): only quotes and backslashes need escaping. */
  char esc[2100];
  size_t j = 0;
  for (size_t i = 0; msg[i] && j < sizeof esc - 2; i++) {
    if (msg[i] == '"' || msg[i] == '\\') esc[j++] = '\\';
    esc[j++] = (msg[i] == '\n' || msg[i] == '\t') ? ' ' : msg[i];
  }
  esc[j] = 0;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  int n = snprintf(line, sizeof line, "{\"level\":%d,\"time\":%lld,\"pid\":%d,\"name\":\"kuasar-endpoint\",\"role\":\"%s\",\"msg\":\"%s\"}\n", level,
                   (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000, (int)getpid(), log_role, esc);
  if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}
