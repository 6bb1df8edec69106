# Shared compile options and helpers. Linked PRIVATE by every project target
# so that warnings apply to project code only (never to generated code users).
add_library(ta_options INTERFACE)
target_compile_options(ta_options INTERFACE -Wall -Wextra
  $<$<BOOL:${TA_WERROR}>:-Werror>)
# clang's thread-safety analysis of the ABSL_GUARDED_BY / ABSL_*_LOCKS_*
# annotations on base/mutex.h locks (the tsan stage of scripts/test builds
# with clang and this on).
option(TA_THREAD_SAFETY "clang only: -Wthread-safety on project code" OFF)
if(TA_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TA_THREAD_SAFETY needs clang (CXX=clang++)")
  endif()
  target_compile_options(ta_options INTERFACE -Wthread-safety)
endif()

if(TA_SANITIZE STREQUAL "address")
  set(_ta_san -fsanitize=address,undefined -fno-omit-frame-pointer
              -fno-sanitize-recover=undefined)
elseif(TA_SANITIZE STREQUAL "thread")
  set(_ta_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT TA_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TA_SANITIZE must be '', 'address' or 'thread'")
endif()
if(_ta_san)
  target_compile_options(ta_options INTERFACE ${_ta_san})
  target_link_options(ta_options INTERFACE ${_ta_san})
endif()

# How much longer tests may take in this build: sanitizers slow a test down
# 2-15x. Scales each ctest TIMEOUT below; tests/testing/time_scale.h scales
# the waits inside the tests by the same factor (time_scale_test checks
# that the two agree).
if(TA_SANITIZE STREQUAL "")
  set(TA_TEST_TIME_SCALE 1)
else()
  set(TA_TEST_TIME_SCALE 3)
endif()

# ta_cc_test(NAME <name> SRCS <files...> DEPS <targets...> [LABELS <labels...>]
#            [TIMEOUT <seconds>])
# One GoogleTest binary registered as one ctest test.
function(ta_cc_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} ta_testing GTest::gmock
                        GTest::gtest_main ta_options)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  math(EXPR T_TIMEOUT "${T_TIMEOUT} * ${TA_TEST_TIME_SCALE}")
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
  endif()
endfunction()
