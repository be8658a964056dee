/* One JSON line per event on stderr, in pino's shape (level, time, name, msg). */
#ifndef KUASAR_ENDPOINT_LOG_H
#define KUASAR_ENDPOINT_LOG_H

enum { LOG_DEBUG = 20, LOG_INFO = 30, LOG_WARN = 40, LOG_ERROR = 50 };

extern int log_threshold;
/* Which of the two processes logs ("relay" or "custody"). */
extern const char *log_role;

void logf_(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) logf_(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) logf_(LOG_INFO, __VA_ARGS__)
#define log_warn(...) logf_(LOG_WARN, __VA_ARGS__)
#define log_error(...) logf_(LOG_ERROR, __VA_ARGS__)

#endif
