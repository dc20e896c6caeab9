#ifndef TK_QUEUE_H
#define TK_QUEUE_H

/* Intrusive FIFO queues: an element embeds its own prev/next pointers, a queue is a head and a
 * tail, push and unlink are O(1) and allocate nothing. TK_QUEUE_DEFINE(name, elem, prev, next)
 * declares `struct name { struct elem *head, *tail; }` and two static functions for it:
 *   name_push(q, e, front)  puts e at the tail (front = 0) or the head (front != 0)
 *   name_unlink(q, e)       takes e out (it must be in q) and clears its links
 * lib/h1, lib/h2 and lib/kube queue their requests with it. */

#define TK_QUEUE_DEFINE(name, elem, prev, next)                                                    \
    struct name {                                                                                  \
        struct elem *head, *tail;                                                                  \
    };                                                                                             \
    static inline void name##_push(struct name *q, struct elem *e, int front)                      \
    {                                                                                              \
        if (front) {                                                                               \
            e->prev = NULL;                                                                        \
            e->next = q->head;                                                                     \
            if (q->head)                                                                           \
                q->head->prev = e;                                                                 \
            else                                                                                   \
                q->tail = e;                                                                       \
            q->head = e;                                                                           \
            return;                                                                                \
        }                                                                                          \
        e->next = NULL;                                                                            \
        e->prev = q->tail;                                                                         \
        if (q->tail)                                                                               \
            q->tail->next = e;                                                                     \
        else                                                                                       \
            q->head = e;                                                                           \
        q->tail = e;                                                                               \
    }                                                                                              \
    static inline void name##_unlink(struct name *q, struct elem *e)                               \
    {                                                                                              \
        if (e->prev)                                                                               \
            e->prev->next = e->next;                                                               \
        else                                                                                       \
            q->head = e->next;                                                                     \
        if (e->next)                                                                               \
            e->next->prev = e->prev;                                                               \
        else                                                                                       \
            q->tail = e->prev;                                                                     \
        e->prev = e->next = NULL;                                                                  \
    }

#endif
