/**
 * The human feedback store and the web app where people write demonstrations, compare and rank responses.
 */
package dev.rlhf4j.feedback;
